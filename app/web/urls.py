"""Server-rendered pages, and the static files they load."""

from django.contrib.staticfiles.views import serve as static_serve
from django.urls import URLPattern, path, re_path

from app.web import views

urlpatterns: list[URLPattern] = [
    path("", views.signed_in_page, {"page": "home"}, name="home"),
    path("login", views.signed_out_page, {"page": "login"}, name="login"),
    path("signup", views.signed_out_page, {"page": "signup"}, name="signup"),
    path("upload", views.signed_in_page, {"page": "upload"}, name="upload"),
    path("search", views.search, name="search"),
    path("explore", views.signed_in_page, {"page": "explore"}, name="explore"),
    path("notifications", views.signed_in_page, {"page": "notifications"}, name="notifications"),
    path("accounts/edit", views.signed_in_page, {"page": "account_edit"}, name="account-edit"),
    path(
        "accounts/requests",
        views.signed_in_page,
        {"page": "follow_requests"},
        name="follow-requests",
    ),
    path("u/<str:username>", views.profile, name="profile"),
    path("u/<str:username>/saved", views.saved, name="saved"),
    path("u/<str:username>/followers", views.follow_list, {"side": "followers"}, name="followers"),
    path("u/<str:username>/following", views.follow_list, {"side": "following"}, name="following"),
    path("p/<int:post_id>", views.post_detail, name="post"),
    path("tags/<str:name>", views.hashtag, name="hashtag"),
    path("places/<int:place_id>", views.place, name="place"),
    path("inbox", views.signed_in_page, {"page": "inbox"}, name="inbox"),
    path("inbox/<int:room_id>", views.room, name="room"),
    # The lab serves its own static files (like media in app/urls.py), so `make run` under
    # granian needs no nginx; a production deployment puts collectstatic output behind one.
    re_path(r"^static/(?P<path>.*)$", static_serve, {"insecure": True}),
]
