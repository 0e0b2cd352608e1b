"""``python -m seed.bench``: a small, deterministic data set for the serving benchmarks.

Not the seeder (``python -m seed``): it owns only users named ``bench_*`` and what hangs off
them, so it can run against a database that people also use by hand. Idempotent: a second run
with the same numbers does nothing; ``--reset`` deletes the bench users (cascading) first.
Exit status: 0 done (or already done), 1 other bench data is in the way, 2 bad arguments.

    python -m seed.bench --posts 2000 [--users 200 --follows-per-user 20 --seed 42 --reset]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.accounts.models import User
    from app.posts.models import Comment, Like, Post

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
    from app.posts.models import Comment, Like

    people = _users_create(users)
    edges = _follows_create(rng, people, follows_per_user)
    post_rows = _posts_create(rng, people, posts)
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


def _users_create(count: int) -> list[User]:
    from django.contrib.auth.hashers import make_password

    from app.accounts.models import User

    password = make_password(PASSWORD)  # hashed once: hashing is deliberately slow
    return User.objects.bulk_create(
        [
            User(
                username=f"{PREFIX}{index:05d}",
                email=f"{PREFIX}{index:05d}@example.com",
                name=f"Bench {index}",
                password=password,
            )
            for index in range(count)
        ],
        batch_size=BATCH,
    )


def _follows_create(
    rng: random.Random, people: list[User], follows_per_user: int
) -> set[tuple[int, int]]:
    """(follower id, followee id) edges, inserted; about ``follows_per_user`` each."""
    from app.accounts.models import Follow

    edges = {
        (follower.pk, followee.pk)
        for follower in people
        for followee in rng.sample(people, follows_per_user + 1)
        if followee.pk != follower.pk
    }
    Follow.objects.bulk_create(
        [Follow(follower_id=a, followee_id=b) for a, b in sorted(edges)], batch_size=BATCH
    )
    return edges


def _posts_create(rng: random.Random, people: list[User], count: int) -> list[Post]:
    """Posts by random authors, each with IMAGES_PER_POST image rows."""
    from app.posts.models import Post, PostImage

    authored = [rng.choice(people) for _ in range(count)]
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
    return post_rows


def _store_counters(
    *,
    people: list[User],
    posts: list[Post],
    edges: set[tuple[int, int]],
    likes: list[Like],
    comments: list[Comment],
) -> None:
    from app.accounts.models import User
    from app.posts.models import Post

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


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m seed.bench", description=__doc__)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--follows-per-user", type=int, default=20)
    parser.add_argument("--max-likes", type=int, default=30)
    parser.add_argument("--comments-per-post", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reset", action="store_true", help="delete bench_* users first")
    args = parser.parse_args(argv)
    if args.posts < 1 or args.users < 2:
        parser.error("--posts must be >= 1 and --users >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    import django

    django.setup()
    from django.db import transaction

    from app.accounts.models import User
    from app.posts.models import Post

    bench_users = User.objects.filter(username__startswith=PREFIX)
    if args.reset:
        deleted, _ = bench_users.delete()
        print(f"reset: deleted {deleted} rows")
    have_users = bench_users.count()
    have_posts = Post.objects.filter(author__username__startswith=PREFIX).count()
    if have_users == args.users and have_posts == args.posts:
        print(f"already populated: {args.users} bench users, {args.posts} posts")
        return 0
    if have_users:
        print(
            f"found {have_users} bench users and {have_posts} posts, not the {args.users} and "
            f"{args.posts} asked for; rerun with --reset",
            file=sys.stderr,
        )
        return 1
    started = time.perf_counter()
    with transaction.atomic():
        counts = populate(
            rng=random.Random(args.seed),
            users=args.users,
            posts=args.posts,
            follows_per_user=min(args.follows_per_user, args.users - 1),
            max_likes=min(args.max_likes, args.users),
            comments_per_post=args.comments_per_post,
        )
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    print(f"populated {summary} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
