"""URL map: the JSON API, health and metrics, media, silk when on, and the web pages."""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve

from app.api import api
from app.lab import views as lab_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/", api.urls),
    path("healthz", lab_views.healthz, name="healthz"),
    path("readyz", lab_views.readyz, name="readyz"),
    path("metrics", lab_views.metrics, name="metrics"),
    path("lab/hello", lab_views.hello, name="lab-hello"),
    # Media from var/media. A production deployment puts a CDN or nginx in front; the lab
    # serves it itself so `make run` needs nothing else.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    path("", include("app.web.urls")),
]

if settings.SILK:
    urlpatterns.insert(0, path("silk/", include("silk.urls", namespace="silk")))

handler404 = "app.lab.views.not_found"
handler500 = "app.lab.views.server_error"
