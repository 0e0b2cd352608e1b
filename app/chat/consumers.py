"""The per-user WebSocket: transport only (authenticate, admit, join the user's group,
validate and meter frames, delegate to services, relay events)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import pydantic
from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from app.accounts.models import User
from app.chat import events, limits, presence, selectors, services
from app.core import degrade, realtime
from app.lab.api import ApiError

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# The user already has CHAT_SOCKETS_PER_USER sockets open; retry later (or close one).
CLOSE_TOO_MANY_SOCKETS = 4429
# Redis was unreachable while the socket opened: RFC 6455's 1013 "Try Again Later".
CLOSE_TRY_AGAIN = 1013
# The largest message (2,000 characters, JSON-escaped) fits well below this; uvicorn's own
# cap (--ws-max-size) bounds what reaches us at all.
MAX_FRAME_CHARS = 16 * 1024
# orjson refuses deeper nesting (``JSONDecodeError``) instead of recursing.
MAX_JSON_DEPTH = 1024
# An error frame quotes at most this much of a validation message (which may echo input).
MAX_ERROR_CHARS = 200
# A server the frame needs is down: the frame is refused with ``unavailable``.
OUTAGES = (*degrade.REDIS_ERRORS, *degrade.DB_ERRORS)
# After the layer re-subscribed: a moment for Redis to apply the SUBSCRIBE, so what is
# published from then on arrives live and what came before is in the resend.
RESYNC_SETTLE = 0.1
# Messages written up to this long before the connection was last known good are resent
# too: clocks of the writer and this process, and commit-to-publish delays.
RESYNC_MARGIN = 2.0
# Ids of the newest messages relayed to this socket, left out of a resend.
RECENT_IDS = 256
T = TypeVar("T")

user_group = realtime.user_group


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
    limits.sync_admit(user_id=user.pk)
    rows = selectors.message_sync(user=user, since=since)
    more = len(rows) > selectors.SYNC_LIMIT
    frames: list[dict[str, Any]] = [
        dict(selectors.message_frame(m)) for m in rows[: selectors.SYNC_LIMIT]
    ]
    last = frames[-1]["id"] if frames else since
    frames.append(dict(events.sync_done(last=last, more=more)))
    return frames


def _resync(user: User, since: float, skip: frozenset[int]) -> list[dict[str, Any]]:
    """``message.new`` for what this socket may have missed (app/chat/layer.py), less what it
    did get; then ``sync.done`` with ``more`` if there is more than a page, so the client asks
    for the rest with its own ``sync``."""
    at = datetime.fromtimestamp(since - RESYNC_MARGIN, tz=UTC)
    rows = selectors.message_resync(user=user, at=at)
    page = rows[: selectors.SYNC_LIMIT]
    frames: list[dict[str, Any]] = [
        dict(selectors.message_frame(m)) for m in page if m.pk not in skip
    ]
    if len(rows) > selectors.SYNC_LIMIT:
        frames.append(dict(events.sync_done(last=page[-1].pk, more=True)))
    return frames


def _leave(user_id: int, socket: str, *, online: bool) -> None:
    """A closed socket's bookkeeping: presence offline (if it went online), its slot under
    the socket cap back."""
    if online:
        try:
            presence.presence_offline(user_id=user_id, socket=socket)
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
    limits.socket_release(user_id=user_id, socket=socket)


def _context(frame: events.ClientFrame | None) -> dict[str, Any]:
    """What an error frame names of the frame it refuses: the send's client id, the room."""
    if isinstance(frame, events.SendFrame):
        return {"client_id": str(frame.client_id), "room": frame.room}
    if isinstance(frame, events.TypingFrame | events.ReadFrame):
        return {"room": frame.room}
    return {}


def frame_parse(text_data: str | None) -> events.ClientFrame | events.ErrorEvent:
    """One client frame, or the ``error`` frame that refuses it; never raises."""
    if text_data is None:
        return events.error_event(code="bad_frame", message="send JSON text frames")
    if len(text_data) > MAX_FRAME_CHARS:
        message = f"frames are at most {MAX_FRAME_CHARS} characters"
        return events.error_event(code="too_large", message=message)
    try:
        content = orjson.loads(text_data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            message = f"the frame nests deeper than {MAX_JSON_DEPTH} levels"
        else:
            message = "the frame is not valid JSON (UTF-8 text, no lone surrogates)"
        return events.error_event(code="bad_json", message=message)
    try:
        return events.client_frame_parse(content)
    except pydantic.ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in problem["loc"]) or "frame"
        if problem["type"] in ("union_tag_invalid", "union_tag_not_found"):
            kinds = ", ".join(events.CLIENT_FRAME_TYPES)
            message = f"type: a frame's type is one of {kinds}"
        else:
            message = f"{where}: {problem['msg']}"[:MAX_ERROR_CHARS]
        return events.error_event(code="bad_frame", message=message)


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    # Set once the socket is authenticated, admitted under the cap and in its group; frames
    # from any other socket are ignored (it is being closed).
    admitted = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a close before the handshake becomes a bare HTTP 403 on real servers
            # (uvicorn, granian), and the client would never see the 4401 code.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user: User = user
        if not await in_thread(limits.socket_admit)(user_id=user.pk, socket=self.channel_name):
            await self.accept()
            cap = limits.socket_cap()
            await self._error("too_many_sockets", f"at most {cap} open sockets per user")
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        self.group = user_group(user.pk)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self._presence_refresh()
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
            await self.accept()
            await self._refuse(limits.Unavailable())
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        self.frames = limits.frame_bucket()
        self.recent: deque[int] = deque(maxlen=RECENT_IDS)
        self.lease = asyncio.create_task(self._lease_renewal())
        self.admitted = True
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
        lease: asyncio.Task[None] | None = getattr(self, "lease", None)
        if lease is not None:
            lease.cancel()
        group = getattr(self, "group", None)
        if group:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except degrade.REDIS_ERRORS as exc:
                degrade.redis_failed(exc)
        if getattr(self, "user", None) is not None:
            await in_thread(_leave)(self.user.pk, self.channel_name, online=bool(group))

    async def _lease_renewal(self) -> None:
        """Keep this socket's slot under the per-user cap while it stays open."""
        while True:
            await asyncio.sleep(limits.SOCKET_RENEW_SECONDS)
            try:
                await in_thread(limits.socket_renew)(user_id=self.user.pk, socket=self.channel_name)
            except Exception:
                log.exception("chat socket lease renewal failed")

    async def _presence_refresh(self) -> None:
        self.presence_at = time.monotonic()
        await in_thread(presence.presence_online)(user_id=self.user.pk, socket=self.channel_name)

    async def _heartbeat(self) -> None:
        """Answer a ``ping``; write presence at most once per refresh interval per socket, so a
        client that pings fast costs no more Redis than one that pings every 25 s.

        The pong goes out even while Redis is down: the socket is alive, and the next ping
        retries the presence write."""
        if time.monotonic() - self.presence_at >= presence.refresh_seconds():
            try:
                await self._presence_refresh()
            except degrade.REDIS_ERRORS as exc:
                self.presence_at = 0.0
                degrade.redis_failed(exc)
        await self.send_json(events.pong())

    async def event_forward(self, event: dict[str, Any]) -> None:
        """Relay an event a service sent to this user's group."""
        payload = event["payload"]
        if payload.get("type") == "message.new":
            self.recent.append(payload["id"])
        await self.send_json(payload)

    async def layer_reconnected(self, event: dict[str, Any]) -> None:
        """This process's pub/sub connection came back (app/chat/layer.py): what was
        published to this user meanwhile never arrived. Resend what was written since the
        connection was last known good, less what this socket already got."""
        if not self.admitted:
            return
        await asyncio.sleep(RESYNC_SETTLE)
        try:
            frames = await in_thread(_resync)(self.user, event["since"], frozenset(self.recent))
        except OUTAGES as exc:
            log.warning("chat resend after a layer reconnect failed (%s)", exc)
            return
        for frame in frames:
            if frame.get("type") == "message.new":
                self.recent.append(frame["id"])
            await self.send_json(frame)

    async def _error(self, code: str, message: str, **context: Any) -> None:
        await self.send_json(events.error_event(code=code, message=message, **context))

    async def _refuse(self, exc: ApiError, **context: Any) -> None:
        retry_after: float | None = getattr(exc, "retry_after", None)
        await self._error(exc.code, exc.message, retry_after=retry_after, **context)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Every frame takes a token, then is parsed and validated; each bad or refused frame
        gets one ``error`` frame, and none closes the socket."""
        if not self.admitted:
            return
        wait = self.frames.take(time.monotonic())
        frame = frame_parse(text_data)
        if wait > 0:
            known = None if isinstance(frame, dict) else frame
            await self._refuse(limits.frame_refusal(wait), **_context(known))
        elif isinstance(frame, dict):
            await self.send_json(frame)
        else:
            await self._dispatch(frame)

    async def _dispatch(self, frame: events.ClientFrame) -> None:
        """Run one valid frame; it gets exactly one reply of its own or an ``error``."""
        context = _context(frame)
        try:
            if isinstance(frame, events.SendFrame):
                ack = await in_thread(_message_send)(self.user, frame)
                await self.send_json(ack)
            elif isinstance(frame, events.TypingFrame):
                await in_thread(services.typing_send)(user=self.user, room_id=frame.room)
            elif isinstance(frame, events.ReadFrame):
                await in_thread(services.message_read)(
                    user=self.user, room_id=frame.room, message_id=frame.message
                )
            elif isinstance(frame, events.PingFrame):
                await self._heartbeat()
            else:
                for payload in await in_thread(_sync)(self.user, frame.since):
                    await self.send_json(payload)
        except ApiError as exc:
            await self._refuse(exc, **context)
        except OUTAGES as exc:
            if isinstance(exc, degrade.REDIS_ERRORS):
                degrade.redis_failed(exc)
            log.warning("chat %s refused: a server is unreachable (%s)", frame.type, exc)
            await self._refuse(limits.Unavailable(), **context)
        except Exception:
            # A bug must cost this frame, not the socket (and every other frame on it).
            log.exception("chat %s failed", frame.type)
            await self._error("internal_error", "the server failed on this frame", **context)
