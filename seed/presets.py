"""Scale presets: the headline counts of each scale (docs/seeding.md) and the counts derived
from them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    users: int
    posts: int
    likes: int
    follows: int
    messages: int
    hashtags: int
    places: int
    # Rows per COPY chunk: bounds memory (medium stays well under 2 GiB) and sets the progress
    # granularity.
    chunk: int

    @property
    def comments(self) -> int:
        return self.likes // 10

    @property
    def saves(self) -> int:
        return self.likes // 20

    @property
    def rooms(self) -> int:
        return max(20, self.messages // 20)

    @property
    def searches(self) -> int:
        return self.users * 3


SCALES: dict[str, Preset] = {
    "tiny": Preset("tiny", 200, 2_000, 20_000, 5_000, 2_000, 300, 100, 50_000),
    "small": Preset("small", 5_000, 50_000, 1_000_000, 150_000, 50_000, 3_000, 1_000, 250_000),
    "medium": Preset(
        "medium", 100_000, 1_000_000, 20_000_000, 5_000_000, 2_000_000, 20_000, 10_000, 1_000_000
    ),
    "large": Preset(
        "large",
        1_000_000,
        10_000_000,
        200_000_000,
        50_000_000,
        20_000_000,
        100_000,
        50_000,
        2_000_000,
    ),
}

# The one documented lab password; hashed once per run and shared by every seeded user.
LAB_PASSWORD = "instalab-lab"
