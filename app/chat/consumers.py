"""The per-user WebSocket: transport only (authenticate, join the user's group, validate
frames, delegate to services, relay events)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pydantic
from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from app.accounts.models import User
from app.chat import events, presence, selectors, services
from app.lab.api import ApiError

CLOSE_UNAUTHENTICATED = 4401
# The largest message (2,000 characters, JSON-escaped) fits well below this; uvicorn's own
# cap (--ws-max-size) bounds what reaches us at all.
MAX_FRAME_CHARS = 16 * 1024
T = TypeVar("T")

user_group = events.user_group


def in_thread(func: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run a service in the worker pool, not channels' one thread-sensitive thread.

    ``database_sync_to_async`` serialises every consumer of the process on a single thread;
    the services share no thread-bound state (each call takes a pooled connection and
    commits), so sends from different sockets may overlap their database round trips.
    """
    return DatabaseSyncToAsync(func, thread_sensitive=False)


def _message_send(user: User, frame: events.SendFrame) -> dict[str, Any]:
    message, _ = services.message_send(
        sender=user,
        room_id=frame.room,
        client_id=frame.client_id,
        text=frame.text,
        post_id=frame.post,
    )
    return dict(events.message_ack(message=message))


def _sync(user: User, since: int) -> list[dict[str, Any]]:
    rows = selectors.message_sync(user=user, since=since)
    more = len(rows) > selectors.SYNC_LIMIT
    frames: list[dict[str, Any]] = [
        dict(selectors.message_frame(m)) for m in rows[: selectors.SYNC_LIMIT]
    ]
    last = frames[-1]["id"] if frames else since
    frames.append(dict(events.sync_done(last=last, more=more)))
    return frames


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a close before the handshake becomes a bare HTTP 403 on real servers
            # (uvicorn, granian), and the client would never see the 4401 code.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user: User = user
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._presence_refresh()
        await self.accept()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its per-event ``aclose_old_connections``.

        That call hops onto the single thread-sensitive thread for every frame and every
        relayed event (three per chat message), serialising all sockets of the process behind
        one thread. This consumer never touches the database on the event loop: every service
        runs through ``in_thread``, which closes stale connections itself, before and after.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)
            await in_thread(presence.presence_offline)(
                user_id=self.user.pk, socket=self.channel_name
            )

    async def _presence_refresh(self) -> None:
        self.presence_at = time.monotonic()
        await in_thread(presence.presence_online)(user_id=self.user.pk, socket=self.channel_name)

    async def _heartbeat(self) -> None:
        """Answer a ``ping``; write presence at most once per refresh interval per socket, so a
        client that pings fast costs no more Redis than one that pings every 25 s."""
        if time.monotonic() - self.presence_at >= presence.refresh_seconds():
            await self._presence_refresh()
        await self.send_json(events.pong())

    async def event_forward(self, event: dict[str, Any]) -> None:
        """Relay an event a service sent to this user's group."""
        await self.send_json(event["payload"])

    async def _error(self, code: str, message: str, **context: Any) -> None:
        await self.send_json(events.error_event(code=code, message=message, **context))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Every bad frame gets an ``error`` frame; none closes the socket."""
        if getattr(self, "group", None) is None:
            return
        if text_data is None:
            await self._error("bad_frame", "send JSON text frames")
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self._error("too_large", f"frames are at most {MAX_FRAME_CHARS} characters")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("bad_json", "the frame is not valid JSON")
            return
        try:
            frame = events.client_frame_parse(content)
        except pydantic.ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            await self._error("bad_frame", f"{where}: {problem['msg']}")
            return
        await self._dispatch(frame)

    async def _dispatch(self, frame: events.ClientFrame) -> None:
        context: dict[str, Any] = {}
        try:
            if isinstance(frame, events.SendFrame):
                context = {"client_id": str(frame.client_id), "room": frame.room}
                ack = await in_thread(_message_send)(self.user, frame)
                await self.send_json(ack)
            elif isinstance(frame, events.TypingFrame):
                context = {"room": frame.room}
                await in_thread(services.typing_send)(user=self.user, room_id=frame.room)
            elif isinstance(frame, events.ReadFrame):
                context = {"room": frame.room}
                await in_thread(services.message_read)(
                    user=self.user, room_id=frame.room, message_id=frame.message
                )
            elif isinstance(frame, events.PingFrame):
                await self._heartbeat()
            else:
                for payload in await in_thread(_sync)(self.user, frame.since):
                    await self.send_json(payload)
        except ApiError as exc:
            await self._error(exc.code, exc.message, **context)
