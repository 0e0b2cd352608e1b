"""Posts and what hangs off them: images, likes, saves, comments, hashtags, mentions, places."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

MAX_IMAGES = 10
CAPTION_MAX = 2200
COMMENT_MAX = 1000
ALT_TEXT_MAX = 500


class Place(models.Model):
    name = models.CharField(max_length=120)
    address = models.CharField(max_length=255, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    post_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Fuzzy and infix place search (search app).
            GinIndex(fields=["name"], name="place_name_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return self.name


class Hashtag(models.Model):
    # Normalised: lowercase, NFKC, no leading '#'. Unique, so it also serves exact lookups.
    name = models.CharField(max_length=100, unique=True)
    post_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Hashtag typeahead by prefix.
            models.Index(
                fields=["name"], name="hashtag_name_prefix", opclasses=["varchar_pattern_ops"]
            ),
            # Fuzzy and infix hashtag search.
            GinIndex(fields=["name"], name="hashtag_name_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return f"#{self.name}"


class Post(models.Model):
    # FK indexes are off wherever a composite index below leads with the same column.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts", db_index=False
    )
    caption = models.TextField(max_length=CAPTION_MAX, blank=True)
    place = models.ForeignKey(
        Place,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="posts",
        db_index=False,
    )
    hashtags = models.ManyToManyField(Hashtag, through="PostHashtag", related_name="posts")
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Mention", related_name="mentioned_in"
    )
    # Denormalised counters, updated atomically with F() by the like/comment services.
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    # Full-text document over caption, hashtags and place name; maintained by the search app.
    search_document = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Home feed and profile grid: posts of given authors, newest first, keyset on
            # (created_at, id). Pages stay O(limit) at any depth.
            models.Index(fields=["author", "-created_at", "-id"], name="post_author_recent"),
            # Explore/popular and trending: recent posts across all authors.
            models.Index(fields=["-created_at", "-id"], name="post_recent"),
            # Place page, recent posts.
            models.Index(fields=["place", "-created_at", "-id"], name="post_place_recent"),
            # Full-text post search.
            GinIndex(fields=["search_document"], name="post_search_document"),
        ]

    def __str__(self) -> str:
        return f"post {self.pk} by {self.author_id}"


class PostImage(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="images", db_index=False)
    position = models.PositiveSmallIntegerField()
    original = models.ImageField(upload_to="posts/original/%Y/%m/")
    feed = models.ImageField(upload_to="posts/feed/%Y/%m/")
    thumb = models.ImageField(upload_to="posts/thumb/%Y/%m/")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # What the photo shows, in the author's words, for screen readers (<img alt>); blank
    # when they wrote none, and the card then describes the post instead.
    alt_text = models.CharField(max_length=ALT_TEXT_MAX, blank=True, default="", db_default="")

    class Meta:
        ordering = ["position"]
        constraints = [
            # Also the index for prefetching a page of posts' images in order.
            models.UniqueConstraint(fields=["post", "position"], name="postimage_post_position"),
            models.CheckConstraint(
                condition=models.Q(position__lt=MAX_IMAGES), name="postimage_position_max"
            ),
        ]
        # The media view asks which posts use a file (app/posts/media.py): without these, a
        # cold check scanned every image row (20 ms at `small`).
        indexes = [
            models.Index(fields=["original"], name="postimage_original"),
            models.Index(fields=["feed"], name="postimage_feed"),
            models.Index(fields=["thumb"], name="postimage_thumb"),
        ]

    def __str__(self) -> str:
        return f"image {self.position} of post {self.post_id}"


class PostHashtag(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, db_index=False)
    hashtag = models.ForeignKey(Hashtag, on_delete=models.CASCADE, db_index=False)
    # Copied from the post, so the hashtag page's recent list is one index range scan.
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "hashtag"], name="posthashtag_unique"),
        ]
        indexes = [
            # Hashtag page, recent posts, keyset on (created_at, post_id).
            models.Index(
                fields=["hashtag", "-created_at", "-post"], name="posthashtag_hashtag_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"post {self.post_id} #{self.hashtag_id}"


class Mention(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "user"], name="mention_unique"),
        ]
        indexes = [
            # "Posts that mention me".
            models.Index(fields=["user", "-post"], name="mention_user_recent"),
        ]

    def __str__(self) -> str:
        return f"post {self.post_id} @{self.user_id}"


class Like(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One like per user and post; also serves viewer_has_liked for a page of posts.
            models.UniqueConstraint(fields=["user", "post"], name="like_unique"),
        ]
        indexes = [
            # Likers of a post, newest first; recs training streams likes by post too.
            models.Index(fields=["post", "-created_at"], name="like_post_recent"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} likes post {self.post_id}"


class Save(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Keeps its FK index: deleting a post cascades to its saves by post_id.
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="saves")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One save per user and post; also serves viewer_has_saved.
            models.UniqueConstraint(fields=["user", "post"], name="save_unique"),
        ]
        indexes = [
            # The viewer's saved collection, newest first.
            models.Index(fields=["user", "-created_at", "-id"], name="save_user_recent"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} saved post {self.post_id}"


class Comment(models.Model):
    post = models.ForeignKey(
        Post, on_delete=models.CASCADE, related_name="comments", db_index=False
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="comments",
        db_index=False,
    )
    text = models.TextField(max_length=COMMENT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Comment list (keyset on (created_at, id)) and the two-newest preview per post.
            models.Index(fields=["post", "-created_at", "-id"], name="comment_post_recent"),
            # FK index for cascades and "comments by user" (recs training).
            models.Index(fields=["author"], name="comment_author"),
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on post {self.post_id}"
