"""Writes for accounts: signup and login (throttled), profile edits, and the follow graph with
exact counters."""

from __future__ import annotations

from typing import Literal

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.http import HttpRequest

from app.accounts.models import Follow, FollowRequest, User, username_validator
from app.accounts.usercache import privacy_changed, user_changed
from app.core import events, ratelimit
from app.lab.api import ApiError, bad_request, not_found

FollowState = Literal["following", "requested", "not_following"]


def _messages(error: ValidationError) -> list[str]:
    return [str(message) for message in error.messages]


def user_signup(*, username: str, email: str, password: str, address: str | None = None) -> User:
    """Create an account; 400 listing every problem, 409 ``username_taken``.

    From a client ``address`` (the API), 429 ``too_many_signups`` once that address or that
    username has used up its attempts (settings.RATE_LIMITS), checked before any password is
    hashed. Every attempt counts: each one that passes validation costs a hash.
    """
    username = User.normalize_username(username)
    if address is not None:
        ratelimit.attempt(
            {"signup.account": username, "signup.address": address},
            code="too_many_signups",
            what="signup attempts",
        )
    email = User.objects.normalize_email(email.strip())
    problems: list[str] = []
    try:
        username_validator(username)
    except ValidationError as exc:
        problems += [f"username: {m}" for m in _messages(exc)]
    try:
        validate_email(email)
    except ValidationError as exc:
        problems += [f"email: {m}" for m in _messages(exc)]
    try:
        # The similarity validator compares against these attributes of the unsaved user.
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        problems += [f"password: {m}" for m in _messages(exc)]
    if problems:
        raise bad_request("invalid_signup", " ".join(problems))
    taken = ApiError(409, "username_taken", f"the username {username!r} is taken")
    # Usernames are stored normalised (lowercase), so the unique index is case-insensitive.
    if User.objects.filter(username=username).exists():
        raise taken
    try:
        with ratelimit.password_slot(), transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        raise taken from None  # lost a race with a concurrent signup of the same name


def user_login_check(
    *, request: HttpRequest | None, username: str, password: str, address: str
) -> User:
    """The user these credentials name, or 401 ``invalid_credentials``.

    429 ``too_many_attempts`` before the password is hashed (the hash is the expensive part,
    and what a flood of guesses would spend) once the account or the client address has used
    up its attempts (settings.RATE_LIMITS). An attempt is counted when it starts, so parallel
    guesses cannot all slip under a limit, and given back when it succeeds: the limits bound
    wrong passwords, not logins. 503 ``busy`` when this process is already hashing as many
    passwords as it may (:func:`ratelimit.password_slot`); that attempt is not counted.
    """
    username = User.normalize_username(username)
    identities = {"login.account": username, "login.address": address}
    ratelimit.password_slots_full()  # no Redis round trip for a login that could not run
    ratelimit.attempt(identities, code="too_many_attempts", what="login attempts")
    try:
        with ratelimit.password_slot():
            user = authenticate(request, username=username, password=password)
    except ratelimit.Throttled:
        ratelimit.refund(identities)  # busy: the password was never checked
        raise
    if not isinstance(user, User):
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    ratelimit.refund(identities)
    return user


def user_update_profile(
    *,
    user: User,
    name: str | None = None,
    bio: str | None = None,
    is_private: bool | None = None,
) -> User:
    """Change the given profile fields; ``None`` leaves a field as it is.

    Turning an account public leaves its pending follow requests pending: the owner can still
    approve or decline them, and a requester who follows again is let straight in (and the
    stale request is removed by :func:`follow_create`).
    """
    # Cached feed bodies embed the author's name and privacy flag; bio is not shown there.
    stale = (name is not None and name.strip() != user.name) or (
        is_private is not None and is_private != user.is_private
    )
    changed: list[str] = []
    if name is not None:
        user.name = name.strip()
        changed.append("name")
    if bio is not None:
        user.bio = bio.strip()
        changed.append("bio")
    if is_private is not None:
        user.is_private = is_private
        changed.append("is_private")
    if changed:
        with transaction.atomic():
            user.save(update_fields=changed)
            user_changed(user.pk)
            if is_private is not None:
                privacy_changed(user_id=user.pk, private=is_private)
            if stale:
                events.emit(events.AuthorChanged(author_id=user.pk))
    return user


def _counters_add(*, follower_id: int, followee_id: int, delta: int) -> None:
    """Move both counters of one edge; call only when a Follow row really changed."""
    # Lock the two user rows in id order, so that A-follows-B racing B-follows-A cannot
    # deadlock. Greatest() keeps a drifted counter from tripping the >= 0 check on unfollow.
    updates = sorted(
        [(follower_id, "following_count"), (followee_id, "follower_count")],
    )
    for user_id, field in updates:
        User.objects.filter(pk=user_id).update(**{field: Greatest(F(field) + delta, 0)})
    user_changed(follower_id, followee_id)


def _follow_insert(*, follower_id: int, followee_id: int) -> bool:
    """Insert the edge and bump counters if it was new; True when a row was inserted."""
    # get_or_create inserts in a savepoint: a parallel insert of the same edge waits on the
    # unique index, then lands in IntegrityError and reads the winner's row instead.
    _, created = Follow.objects.get_or_create(follower_id=follower_id, followee_id=followee_id)
    if created:
        _counters_add(follower_id=follower_id, followee_id=followee_id, delta=1)
        events.emit(events.UserFollowed(follower_id=follower_id, followee_id=followee_id))
    return created


def follow_create(*, follower: User, followee: User) -> FollowState:
    """Follow ``followee``, or ask to when the account is private. Idempotent."""
    if follower.pk == followee.pk:
        raise bad_request("cannot_follow_self", "you cannot follow yourself")
    with transaction.atomic():
        if Follow.objects.filter(follower_id=follower.pk, followee_id=followee.pk).exists():
            return "following"
        if followee.is_private:
            _, asked = FollowRequest.objects.get_or_create(
                requester_id=follower.pk, target_id=followee.pk
            )
            if asked:
                events.emit(events.FollowRequested(requester_id=follower.pk, target_id=followee.pk))
            return "requested"
        # A request left over from when the account was private is superseded by the follow.
        FollowRequest.objects.filter(requester_id=follower.pk, target_id=followee.pk).delete()
        _follow_insert(follower_id=follower.pk, followee_id=followee.pk)
        return "following"


def follow_delete(*, follower: User, followee: User) -> FollowState:
    """Unfollow ``followee`` or cancel a pending request. Idempotent."""
    if follower.pk == followee.pk:
        raise bad_request("cannot_follow_self", "you cannot unfollow yourself")
    with transaction.atomic():
        FollowRequest.objects.filter(requester_id=follower.pk, target_id=followee.pk).delete()
        deleted, _ = Follow.objects.filter(
            follower_id=follower.pk, followee_id=followee.pk
        ).delete()
        if deleted:
            _counters_add(follower_id=follower.pk, followee_id=followee.pk, delta=-1)
            events.emit(events.FollowDeleted(follower_id=follower.pk, followee_id=followee.pk))
    return "not_following"


def follow_request_approve(*, owner: User, requester: User) -> None:
    """Turn ``requester``'s pending request into a follow of ``owner``; 404 if none pending."""
    with transaction.atomic():
        deleted, _ = FollowRequest.objects.filter(
            requester_id=requester.pk, target_id=owner.pk
        ).delete()
        if not deleted:
            raise not_found("follow request")
        _follow_insert(follower_id=requester.pk, followee_id=owner.pk)


def follow_request_decline(*, owner: User, requester: User) -> None:
    """Drop ``requester``'s pending request to follow ``owner``; 404 if none pending."""
    deleted, _ = FollowRequest.objects.filter(
        requester_id=requester.pk, target_id=owner.pk
    ).delete()
    if not deleted:
        raise not_found("follow request")
