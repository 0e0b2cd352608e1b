"""Chat rooms (DMs and groups), their members with read state, and messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models

MAX_GROUP_MEMBERS = 32
MESSAGE_MAX = 2000


class Room(models.Model):
    class Kind(models.TextChoices):
        DM = "dm"
        GROUP = "group"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    title = models.CharField(max_length=80, blank=True)
    # "<low user id>:<high user id>" for DMs, NULL for groups. Unique, so "get or create the DM
    # between A and B" is race-safe: two concurrent creates collide on this constraint.
    dm_key = models.CharField(max_length=41, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Denormalised for the inbox: order rooms by activity and show a preview without a
    # per-room subquery.
    last_message = models.ForeignKey(
        "Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    last_message_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} room {self.pk}"


class Membership(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
    )
    joined_at = models.DateTimeField(auto_now_add=True)
    # Read state is one id per member, not a row per message: unread = messages with a
    # greater id in the room.
    last_read_message_id = models.BigIntegerField(default=0)
    # When this member consented to the room: created it, or first sent a message in it.
    # Only members who accepted show their presence to the others (selectors.presence_visible).
    # Set by the database (triggers of migration 0002), so every path that creates a room or
    # inserts a message, the seeder's COPY included, keeps it exact.
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            # Leads with user: the inbox ("my rooms") and the membership check for a frame.
            models.UniqueConstraint(fields=["user", "room"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} in room {self.room_id}"


class Message(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text"
        POST = "post"

    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT)
    text = models.TextField(max_length=MESSAGE_MAX, blank=True)
    # A shared post; NULL after the post is deleted, and the share then renders "unavailable".
    post = models.ForeignKey(
        "posts.Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="shares"
    )
    # Chosen by the client; a resend with the same id returns the stored message.
    client_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender", "client_id"], name="message_idempotency"),
        ]
        indexes = [
            # History (keyset on id), sync replay (id > since) and unread counts
            # (id > last_read) per room.
            models.Index(fields=["room", "id"], name="message_room_id"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} in room {self.room_id}"
