"""Server-rendered pages, and the static files they load."""

from django.contrib.staticfiles.views import serve as static_serve
from django.urls import URLPattern, path, re_path

from app.web import views

urlpatterns: list[URLPattern] = [
    path("", views.home, name="home"),
    path("login", views.login_page, name="login"),
    path("signup", views.signup_page, name="signup"),
    path("upload", views.upload, name="upload"),
    path("search", views.search, name="search"),
    path("explore", views.explore, name="explore"),
    path("notifications", views.notifications, name="notifications"),
    path("accounts/edit", views.account_edit, name="account-edit"),
    path("accounts/requests", views.follow_requests, name="follow-requests"),
    path("u/<str:username>", views.profile, name="profile"),
    path("u/<str:username>/saved", views.saved, name="saved"),
    path("u/<str:username>/followers", views.follow_list, {"side": "followers"}, name="followers"),
    path("u/<str:username>/following", views.follow_list, {"side": "following"}, name="following"),
    path("p/<int:post_id>", views.post_detail, name="post"),
    path("tags/<str:name>", views.hashtag, name="hashtag"),
    path("places/<int:place_id>", views.place, name="place"),
    path("inbox", views.inbox, name="inbox"),
    path("inbox/<int:room_id>", views.room, name="room"),
    # The lab serves its own static files (like media in app/urls.py), so `make run` under
    # granian needs no nginx; a production deployment puts collectstatic output behind one.
    re_path(r"^static/(?P<path>.*)$", static_serve, {"insecure": True}),
]
