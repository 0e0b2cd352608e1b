"""ASGI entry point: HTTP through Django, and /ws/ through Channels with session auth."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: the routing imports models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from app.chat.routing import websocket_urlpatterns  # noqa: E402
from app.core.bodylimit import ASGIBodyLimit  # noqa: E402
from app.lab.metrics import SocketMetrics  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Django's ASGI handler spools any body whole before a middleware could refuse it.
        "http": ASGIBodyLimit(django_asgi_app),
        # Outermost, so only the sockets the inner layers accept are counted.
        "websocket": SocketMetrics(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
