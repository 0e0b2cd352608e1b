"""WebSocket routes: one socket per user at /ws/."""

from django.urls import path

from app.chat.consumers import UserSocketConsumer

websocket_urlpatterns = [
    path("ws/", UserSocketConsumer.as_asgi()),
]
