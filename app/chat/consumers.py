"""The per-user WebSocket: transport only (authenticate, join the user's group, relay)."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

CLOSE_UNAUTHENTICATED = 4401


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def event_forward(self, event: dict[str, Any]) -> None:
        """Relay an event a service sent to this user's group."""
        await self.send_json(event["payload"])
