"""The image pool: a few hundred generated JPEGs with renditions, drawn once and shared."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from PIL import Image, ImageDraw, ImageFont, ImageOps

from seed.vocab import COMMUNITIES

POOL_DIR = "seed-pool"
# Bump when the drawing changes, so an old pool on disk is redrawn rather than reused.
POOL_VERSION = 1
PER_COMMUNITY = 24
FEED_WIDTH = 1080
THUMB = (320, 320)
# Instagram's three shapes: square, portrait 4:5 and landscape 1.91:1; squares dominate.
ASPECTS = ((1, 1), (1, 1), (4, 5), (1, 1), (4, 5), (191, 100))


@dataclass(frozen=True)
class PoolImage:
    original: str
    feed: str
    thumb: str
    width: int
    height: int
    community: int


def _draw(index: int, community: int) -> Image.Image:
    # The pool is seeded by its index only, never by SEED, so one pool serves every seed.
    rng = np.random.Generator(np.random.PCG64([20261101, index]))
    aw, ah = ASPECTS[index % len(ASPECTS)]
    width, height = FEED_WIDTH, FEED_WIDTH * ah // aw
    start, end = (np.array(c, dtype=np.float32) for c in COMMUNITIES[community].colours)
    jitter = rng.integers(-40, 40, size=3).astype(np.float32)
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs / width * np.cos(angle) + ys / height * np.sin(angle)
    t = (t - t.min()) / (t.max() - t.min())
    pixels = start + jitter + (end - start) * t[..., None]
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(width // 12, width // 3))
        fill = (*(int(v) for v in rng.integers(0, 256, size=3)), int(rng.integers(60, 200)))
        box = (x0 - size, y0 - size, x0 + size, y0 + size)
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse(box, fill=fill)
        elif shape == 1:
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(x0, y0 - size), (x0 - size, y0 + size), (x0 + size, y0 + size)], fill)
    font = ImageFont.load_default(size=72)
    label = f"#{COMMUNITIES[community].name} {index:03d}"
    draw.text((48, height - 140), label, fill=(255, 255, 255, 230), font=font)
    return image


def _save(image: Image.Image, path: Path, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed, so a concurrent or interrupted run never sees half a file.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    image.save(tmp, format="JPEG", quality=quality)
    tmp.replace(path)


def pool_ensure(media_root: Path) -> list[PoolImage]:
    """Return the pool, drawing it under MEDIA_ROOT/seed-pool/ first if missing or stale."""
    root = media_root / POOL_DIR
    index_file = root / "index.json"
    if index_file.exists():
        saved = json.loads(index_file.read_text())
        pool = [PoolImage(**item) for item in saved["images"]]
        if saved.get("version") == POOL_VERSION and all(
            (media_root / p.thumb).exists() for p in pool
        ):
            return pool
    pool = []
    for index in range(PER_COMMUNITY * len(COMMUNITIES)):
        community = index % len(COMMUNITIES)
        image = _draw(index, community)
        names = {kind: f"{POOL_DIR}/{kind}/{index:04d}.jpg" for kind in ("original", "feed")}
        names["thumb"] = f"{POOL_DIR}/thumb/{index:04d}.jpg"
        _save(image, media_root / names["original"], 92)
        _save(image, media_root / names["feed"], 82)
        _save(ImageOps.fit(image, THUMB), media_root / names["thumb"], 80)
        pool.append(PoolImage(**names, width=image.width, height=image.height, community=community))
    tmp = index_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": POOL_VERSION, "images": [asdict(p) for p in pool]}))
    tmp.replace(index_file)
    return pool


def pool_store(pool: list[PoolImage], media_root: Path) -> int:
    """Copy the pool's files from ``media_root`` into the media storage when that is not the
    disk (MEDIA_STORAGE=s3: a bucket every app node reads). Files already there are kept;
    returns how many were copied."""
    storage = default_storage
    if isinstance(storage, FileSystemStorage):
        return 0  # the posts' files are read from MEDIA_ROOT, where the pool is drawn
    copied = 0
    for image in pool:
        for name in (image.original, image.feed, image.thumb):
            if not storage.exists(name):
                with (media_root / name).open("rb") as file:
                    storage.save(name, File(file))
                copied += 1
    return copied
