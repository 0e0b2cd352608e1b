"""lab_populate: a small, deterministic data set for serving benchmarks (bench_* users only).

Not the seeder (``make seed``): it owns only users named ``bench_*`` and what hangs off them,
so it can run against a database that people also use by hand. Idempotent: a second run with
the same numbers does nothing; ``--reset`` deletes the bench users (cascading) first.
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from app.accounts.models import Follow, User
from app.posts.models import Comment, Like, Post, PostImage

PREFIX = "bench_"
PASSWORD = "instalab-bench"
IMAGES_PER_POST = 3
BATCH = 2000
WORDS = [
    "sunset",
    "coffee",
    "서울",
    "바다",
    "morning",
    "hike",
    "맛집",
    "city",
    "rain",
    "friends",
    "weekend",
    "여행",
    "street",
    "light",
    "garden",
    "고양이",
    "mountain",
    "train",
    "studio",
    "film",
]


class Command(BaseCommand):
    help = "Create bench_* users with follows, posts (3 image rows each), likes and comments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--posts", type=int, default=2000)
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--follows-per-user", type=int, default=20)
        parser.add_argument("--max-likes", type=int, default=30)
        parser.add_argument("--comments-per-post", type=int, default=3)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--reset", action="store_true", help="delete bench_* users first")

    def handle(self, *args: Any, **options: Any) -> None:
        posts, users = options["posts"], options["users"]
        if posts < 1 or users < 2:
            self.stderr.write("--posts must be >= 1 and --users >= 2")
            raise SystemExit(2)
        bench_users = User.objects.filter(username__startswith=PREFIX)
        if options["reset"]:
            deleted, _ = bench_users.delete()
            self.stdout.write(f"reset: deleted {deleted} rows")
        have_users = bench_users.count()
        have_posts = Post.objects.filter(author__username__startswith=PREFIX).count()
        if have_users == users and have_posts == posts:
            self.stdout.write(f"already populated: {users} bench users, {posts} posts")
            return
        if have_users:
            self.stderr.write(
                f"found {have_users} bench users and {have_posts} posts, not the {users} and "
                f"{posts} asked for; rerun with --reset"
            )
            raise SystemExit(1)
        started = time.perf_counter()
        with transaction.atomic():
            counts = populate(
                rng=random.Random(options["seed"]),
                users=users,
                posts=posts,
                follows_per_user=min(options["follows_per_user"], users - 1),
                max_likes=min(options["max_likes"], users),
                comments_per_post=options["comments_per_post"],
            )
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        self.stdout.write(f"populated {summary} in {time.perf_counter() - started:.1f} s")


def populate(
    *,
    rng: random.Random,
    users: int,
    posts: int,
    follows_per_user: int,
    max_likes: int,
    comments_per_post: int,
) -> dict[str, int]:
    """Insert everything with bulk_create; counters are computed here, so they start exact."""
    password = make_password(PASSWORD)  # hashed once: hashing is deliberately slow
    people = User.objects.bulk_create(
        [
            User(
                username=f"{PREFIX}{index:05d}",
                email=f"{PREFIX}{index:05d}@example.com",
                name=f"Bench {index}",
                password=password,
            )
            for index in range(users)
        ],
        batch_size=BATCH,
    )
    edges = {
        (follower.pk, followee.pk)
        for follower in people
        for followee in rng.sample(people, follows_per_user + 1)
        if followee.pk != follower.pk
    }
    Follow.objects.bulk_create(
        [Follow(follower_id=a, followee_id=b) for a, b in sorted(edges)], batch_size=BATCH
    )
    authored = [rng.choice(people) for _ in range(posts)]
    post_rows = Post.objects.bulk_create(
        [
            Post(author=author, caption=" ".join(rng.choices(WORDS, k=8)) + " #bench")
            for author in authored
        ],
        batch_size=BATCH,
    )
    # Image files are not needed for the JSON; every row points at one placeholder.
    PostImage.objects.bulk_create(
        [
            PostImage(
                post=post,
                position=position,
                original="bench/placeholder.jpg",
                feed="bench/placeholder-feed.jpg",
                thumb="bench/placeholder-thumb.jpg",
                width=1080,
                height=1350,
            )
            for post in post_rows
            for position in range(IMAGES_PER_POST)
        ],
        batch_size=BATCH,
    )
    likes = [
        Like(user=liker, post=post)
        for post in post_rows
        for liker in rng.sample(people, rng.randint(0, max_likes))
    ]
    Like.objects.bulk_create(likes, batch_size=BATCH)
    comments = [
        Comment(post=post, author=rng.choice(people), text=" ".join(rng.choices(WORDS, k=6)))
        for post in post_rows
        for _ in range(comments_per_post)
    ]
    Comment.objects.bulk_create(comments, batch_size=BATCH)
    _store_counters(people=people, posts=post_rows, edges=edges, likes=likes, comments=comments)
    return {
        "users": len(people),
        "follows": len(edges),
        "posts": len(post_rows),
        "images": len(post_rows) * IMAGES_PER_POST,
        "likes": len(likes),
        "comments": len(comments),
    }


def _store_counters(
    *,
    people: list[User],
    posts: list[Post],
    edges: set[tuple[int, int]],
    likes: list[Like],
    comments: list[Comment],
) -> None:
    by_id = {person.pk: person for person in people}
    for follower_id, followee_id in edges:
        by_id[follower_id].following_count += 1
        by_id[followee_id].follower_count += 1
    for post in posts:
        by_id[post.author_id].post_count += 1
    User.objects.bulk_update(
        people, ["follower_count", "following_count", "post_count"], batch_size=BATCH
    )
    post_by_id = {post.pk: post for post in posts}
    for like in likes:
        post_by_id[like.post_id].like_count += 1
    for comment in comments:
        post_by_id[comment.post_id].comment_count += 1
    Post.objects.bulk_update(posts, ["like_count", "comment_count"], batch_size=BATCH)
