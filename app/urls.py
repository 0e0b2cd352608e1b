"""URL map: the JSON API, health and metrics, media, silk when on, and the web pages."""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path, re_path

from app.api import api
from app.lab import views as lab_views
from app.posts import media

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/", api.urls),
    path("healthz", lab_views.healthz, name="healthz"),
    path("readyz", lab_views.readyz, name="readyz"),
    path("metrics", lab_views.metrics, name="metrics"),
    path("lab/hello", lab_views.hello, name="lab-hello"),
    # Media from MEDIA_ROOT, each post image only to viewers who may see its post. A
    # production deployment puts nginx in front with X-Accel-Redirect from this check; the
    # lab serves the bytes itself so `make run` needs nothing else.
    re_path(r"^media/(?P<path>.*)$", media.media_serve, name="media"),
    path("", include("app.web.urls")),
]

if settings.SILK:
    urlpatterns.insert(0, path("silk/", include("silk.urls", namespace="silk")))

handler404 = "app.web.errors.not_found"
handler500 = "app.web.errors.server_error"
