"""search: typeahead keystrokes growing a prefix, full searches, hashtag/place pages, history."""

from __future__ import annotations

from urllib.parse import quote

import gevent
from locust import task

from loadtests.lab import LabUser, population
from seed.vocab import COMMUNITIES, GENERIC_TAGS

# What people type: the seeded vocabulary (hashtags, caption words, place words) in both
# languages, so naive scans and indexes see the same realistic mix of hits and misses.
TERMS: tuple[str, ...] = (
    *GENERIC_TAGS,
    *(tag for c in COMMUNITIES for tag in (*c.tags_en, *c.tags_ko)),
    *(word for c in COMMUNITIES for word in (*c.place_en, *c.place_ko)),
    *(phrase.split()[0].lower() for c in COMMUNITIES for phrase in c.phrases_en),
    "seoul",
    "서울",
    "coffee",
)
KEYSTROKE_SECONDS = (0.08, 0.25)


class Searcher(LabUser):
    """Types, searches, opens hashtag and place pages, and checks recent searches."""

    weight = 3

    def on_start(self) -> None:
        super().on_start()
        self.hashtags: list[str] = []
        self.places: list[int] = []

    @task(5)
    def typeahead(self) -> None:
        term = self._a_term()
        # Two to all characters: a typeahead fires per keystroke after the first.
        for end in range(min(2, len(term)), len(term) + 1):
            self.get(f"/api/search/suggest?q={quote(term[:end])}", name="/api/search/suggest")
            gevent.sleep(self.rng.uniform(*KEYSTROKE_SECONDS))

    @task(3)
    def search(self) -> None:
        term = self._a_term()
        found = self.get(f"/api/search?q={quote(term)}", name="/api/search")
        if found:
            self._remember(found)
        if self.rng.random() < 0.3:
            self.get(f"/api/search?q={quote(term)}&type=posts", name="/api/search?type=posts")
        if self.rng.random() < 0.5:
            self.send(
                "POST",
                "/api/search/history",
                name="/api/search/history",
                json_body={"query": term},
                ok=(201,),
            )

    @task(2)
    def hashtag(self) -> None:
        ok: tuple[int, ...] = (200,)
        if self.hashtags:
            name = self.rng.choice(self.hashtags)
        else:
            # Not every vocabulary tag is seeded at every scale: a miss is a fair 404 here.
            name, ok = self.rng.choice(GENERIC_TAGS), (200, 404)
        self.get(f"/api/hashtags/{quote(name)}", name="/api/hashtags/{name}", ok=ok)

    @task(2)
    def place(self) -> None:
        places = population().places
        if self.places or places:
            place = self.rng.choice(self.places) if self.places else self.rng.randint(1, places)
            self.get(f"/api/places/{place}", name="/api/places/{id}")

    @task(1)
    def history(self) -> None:
        self.get("/api/search/history", name="/api/search/history")

    def _a_term(self) -> str:
        return self.rng.choice(TERMS)

    def _remember(self, found: dict[str, dict[str, list[dict[str, object]]]]) -> None:
        tags = [str(hit["name"]) for hit in found.get("hashtags", {}).get("items", [])]
        places = [int(str(hit["id"])) for hit in found.get("places", {}).get("items", [])]
        self.hashtags = (self.hashtags + tags)[-30:]
        self.places = (self.places + places)[-30:]
