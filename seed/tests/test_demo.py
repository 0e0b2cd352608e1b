"""The demo account's world after a seed: it follows accounts that posted lately, so its home
feed is full and fresh; some follow it back and react to its photo, so it has notifications;
its DMs are recent, some unread."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

from django.core.files.storage import default_storage
from django.utils import timezone

from app.accounts.models import Follow, User
from app.chat.models import Message
from app.conftest import login_client
from app.notifications.models import Notification
from app.posts.models import Post
from app.posts.services import post_delete
from seed import demo_user
from seed.demo import CONVERSATIONS, FOLLOWERS, REACTIONS
from seed.demo_user import DEMO_USERNAME
from seed.tests.conftest import Seeder


def test_the_demo_account_opens_on_a_full_fresh_feed_with_recent_dms(
    seeder: Seeder, settings: Any
) -> None:
    settings.DEBUG = True  # the demo account exists in development mode only
    seeder()
    out = StringIO()
    demo_user.ensure(base_url=None, out=out)
    demo = User.objects.get(username=DEMO_USERNAME)
    now = timezone.now()

    followed = list(Follow.objects.filter(follower=demo).values_list("followee_id", flat=True))
    # tiny posts a dozen times a day, so its demo account takes a week's authors; `small`
    # has hundreds a day (test_recent.py) and follows 60 of them.
    assert 40 <= len(followed) <= 80
    posted_today = set(
        Post.objects.filter(author_id__in=followed, created_at__gte=now - timedelta(days=1))
        .values_list("author_id", flat=True)
        .distinct()
    )
    assert len(posted_today) >= 10
    posted_this_week = set(
        Post.objects.filter(author_id__in=followed, created_at__gte=now - timedelta(days=7))
        .values_list("author_id", flat=True)
        .distinct()
    )
    assert posted_this_week == set(followed)
    followees = User.objects.filter(pk__in=followed)
    assert not any(user.is_private for user in followees)
    assert max(user.follower_count for user in followees) > 100  # popular and ordinary ones
    assert min(user.follower_count for user in followees) < 50
    demo.refresh_from_db()
    assert (demo.following_count, demo.follower_count) == (len(followed), FOLLOWERS)
    assert f"follows {len(followed)} accounts that posted lately" in out.getvalue()

    client = login_client(demo)
    feed = client.get_json("/api/feed").json()
    assert len(feed["items"]) >= 10
    assert now - Post.objects.get(pk=feed["items"][0]["id"]).created_at < timedelta(days=1)

    inbox = client.get_json("/api/chat/rooms").json()["items"]
    assert len(inbox) == len(CONVERSATIONS)
    assert client.get_json("/api/chat/unread").json() == {"rooms": 2}
    ages = sorted(now - m.created_at for m in Message.objects.filter(room__memberships__user=demo))
    assert timedelta(minutes=2) < ages[0] < timedelta(minutes=10)
    assert ages[-1] < timedelta(hours=12)

    (photo,) = Post.objects.filter(author=demo)
    likes = sum(1 for _, _, comment in REACTIONS if not comment)
    assert (photo.like_count, photo.comment_count) == (likes, len(REACTIONS) - likes)
    assert timedelta(hours=3) < now - photo.created_at < timedelta(hours=4)
    listed = client.get_json("/api/notifications").json()["items"]
    assert len(listed) == FOLLOWERS + len(REACTIONS)
    assert {item["verb"] for item in listed} == {"follow", "like", "comment"}
    # Listed newest first (by id), which is also their times' order.
    times = [item["created_at"] for item in listed]
    assert times == sorted(times, reverse=True)
    notified = [now - n.created_at for n in Notification.objects.filter(recipient=demo)]
    assert timedelta(minutes=5) < min(notified) < timedelta(minutes=20)
    assert max(notified) > timedelta(days=1)

    # Running it again keeps the world as it is.
    demo_user.ensure(base_url=None, out=StringIO())
    assert Follow.objects.filter(follower=demo).count() == len(followed)
    assert Message.objects.filter(room__memberships__user=demo).count() == len(ages)
    assert Post.objects.filter(author=demo).count() == 1
    # The photo's renditions went to MEDIA_ROOT, where the seeded pool lives: remove them.
    names = [
        str(name) for row in photo.images.values_list("original", "feed", "thumb") for name in row
    ]
    post_delete(user=demo, post_id=photo.pk)
    assert not any(default_storage.exists(name) for name in names)
