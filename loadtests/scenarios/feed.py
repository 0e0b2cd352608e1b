"""feed: log in, read the home feed's pages, open a post, like, comment sometimes, explore."""

from __future__ import annotations

import os

from locust import task

from loadtests.lab import LabUser

# The runner lists the API's paths (from /api/openapi.json) so a scenario skips endpoints this
# build does not have yet instead of counting 404s.
API_PATHS = set(filter(None, os.environ.get("LAB_API_PATHS", "").split(",")))
HAS_EXPLORE = not API_PATHS or "/api/explore" in API_PATHS
COMMENTS = ("nice!", "love this", "where is this?", "멋지다", "최고 👍", "so good")


class FeedReader(LabUser):
    """Scrolls the home timeline; the heaviest and most frequent persona."""

    weight = 5

    def on_start(self) -> None:
        super().on_start()
        self.seen: list[int] = []

    @task(6)
    def read_feed(self) -> None:
        page = self.get("/api/feed", name="/api/feed")
        pages = 1
        # About half the sessions scroll on, a few deep: page 2+ costs differently (keyset).
        while page and page.get("next_cursor") and pages < 4 and self.rng.random() < 0.5:
            self._remember(page)
            page = self.get(
                f"/api/feed?cursor={page['next_cursor']}", name="/api/feed?cursor=[next]"
            )
            pages += 1
        if page:
            self._remember(page)

    @task(3)
    def open_post(self) -> None:
        post_id = self._a_post()
        if post_id is None:
            return
        self.get(f"/api/posts/{post_id}", name="/api/posts/{id}")
        if self.rng.random() < 0.3:
            self.get(f"/api/posts/{post_id}/comments", name="/api/posts/{id}/comments")

    @task(2)
    def like(self) -> None:
        post_id = self._a_post()
        if post_id is None:
            return
        path = f"/api/posts/{post_id}/like"
        self.send("POST", path, name="/api/posts/{id}/like", ok=(200, 201))
        # Unlike half the time, so repeated runs do not drift the like counts upwards.
        if self.rng.random() < 0.5:
            self.send("DELETE", path, name="/api/posts/{id}/like", ok=(200,))

    @task(1)
    def comment(self) -> None:
        post_id = self._a_post()
        if post_id is not None and self.rng.random() < 0.5:
            self.send(
                "POST",
                f"/api/posts/{post_id}/comments",
                name="/api/posts/{id}/comments",
                json_body={"text": self.rng.choice(COMMENTS)},
                ok=(201,),
            )

    @task(1)
    def explore(self) -> None:
        if HAS_EXPLORE:
            self._remember(self.get("/api/explore", name="/api/explore"))

    def _remember(self, page: dict[str, object] | None) -> None:
        items = page.get("items") if page else None
        if isinstance(items, list):
            self.seen = [item["id"] for item in items if isinstance(item, dict)][-40:] or self.seen

    def _a_post(self) -> int | None:
        if not self.seen:
            self.read_feed()
        return self.rng.choice(self.seen) if self.seen else None
