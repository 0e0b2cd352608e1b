"""Upload validation and renditions: sniff with Pillow, cap size and pixels, strip EXIF; and
the per-request budget (pixels, CPU, one of a few processing slots) an upload spends."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.errors import ApiError, bad_request
from app.core.ratelimit import Throttled

ALLOWED_FORMATS = ["JPEG", "PNG", "WEBP"]
FEED_WIDTH = 1080
THUMB_SIZE = (320, 320)
JPEG_QUALITY = 88


@dataclass(frozen=True)
class Renditions:
    """Re-encoded JPEG bytes of one upload; nothing here carries the uploader's metadata."""

    original: bytes
    feed: bytes
    thumb: bytes
    width: int
    height: int


def _invalid(label: str, reason: str) -> ApiError:
    return bad_request("invalid_image", f"{label}: {reason}")


def _too_many_pixels(label: str) -> ApiError:
    return bad_request("image_too_large", f"{label}: more than {settings.MAX_UPLOAD_PIXELS} pixels")


@dataclass
class _Budget:
    """What one upload request may still spend: CPU seconds of this thread on its images."""

    cpu_started: float

    def charge(self, label: str) -> None:
        spent = time.thread_time() - self.cpu_started
        if spent > settings.UPLOAD_CPU_SECONDS:
            raise ApiError(
                413,
                "upload_too_costly",
                f"{label}: the request's images took more than "
                f"{settings.UPLOAD_CPU_SECONDS:g} s of CPU; send fewer or smaller images",
            )


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "upload_budget", default=None
)


@functools.cache
def _slots(count: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(count)


def _header_pixels(upload: IO[bytes], label: str) -> int:
    """Width x height from the image header, without decoding; the file is rewound after."""
    try:
        with Image.open(upload, formats=ALLOWED_FORMATS) as opened:
            width, height = opened.size
    except UnidentifiedImageError:
        raise _invalid(label, "not a JPEG, PNG or WebP image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(label) from None
    except Exception:
        raise _invalid(label, "the image data is corrupt or truncated") from None
    finally:
        upload.seek(0)
    return width * height


def uploads_precheck(*, uploads: Sequence[IO[bytes]]) -> None:
    """Every image's dimensions from its header, before any image is decoded: a few kilobytes
    can declare a 40 MP image that takes seconds and hundreds of MB to decode. 400 for one
    over MAX_UPLOAD_PIXELS, 413 ``upload_too_large`` for a request over UPLOAD_PIXEL_BUDGET."""
    total = 0
    for index, upload in enumerate(uploads):
        label = f"images[{index}]"
        pixels = _header_pixels(upload, label)
        if pixels > settings.MAX_UPLOAD_PIXELS:
            raise _too_many_pixels(label)
        total += pixels
        if total > settings.UPLOAD_PIXEL_BUDGET:
            raise ApiError(
                413,
                "upload_too_large",
                f"the images of one post may hold {settings.UPLOAD_PIXEL_BUDGET} pixels in "
                f"all; {label} brings them to {total}",
            )


@contextlib.contextmanager
def upload_budget(*, uploads: Sequence[IO[bytes]]) -> Iterator[None]:
    """Around one upload request: checks every header first (:func:`uploads_precheck`), then
    takes one of IMAGE_PROCESSING_SLOTS per process, waiting IMAGE_SLOT_WAIT at most (503
    ``busy`` with Retry-After rather than an unbounded queue of decodes, each holding its
    memory), and bounds the CPU that :func:`image_renditions` spends inside it."""
    uploads_precheck(uploads=uploads)
    slots = _slots(settings.IMAGE_PROCESSING_SLOTS)
    if not slots.acquire(timeout=settings.IMAGE_SLOT_WAIT):
        raise Throttled(
            503,
            "busy",
            "the server is processing as many images as it can; try again shortly",
            retry_after=max(1.0, settings.IMAGE_SLOT_WAIT),
        )
    token = _budget.set(_Budget(cpu_started=time.thread_time()))
    try:
        yield
    finally:
        _budget.reset(token)
        slots.release()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # No exif= argument, so no EXIF block (GPS, camera serials) is written.
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG; transparent pixels become white rather than black."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def image_renditions(*, upload: IO[bytes], size: int | None, label: str) -> Renditions:
    """Validate one uploaded file and render original, feed and thumb; 400 on any problem."""
    if size is not None and size > settings.MAX_UPLOAD_BYTES:
        raise bad_request(
            "image_too_large", f"{label}: larger than {settings.MAX_UPLOAD_BYTES} bytes"
        )
    budget = _budget.get()
    if budget is not None:
        budget.charge(label)
    try:
        # Reads the header only; the format comes from the bytes, never the name or type.
        with Image.open(upload, formats=ALLOWED_FORMATS) as opened:
            width, height = opened.size
            if width * height > settings.MAX_UPLOAD_PIXELS:
                raise _too_many_pixels(label)
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            image = _flatten(upright)
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise bad_request("image_too_large", f"{label}: too many pixels") from None
    except UnidentifiedImageError:
        raise _invalid(label, "not a JPEG, PNG or WebP image") from None
    except Exception:
        # Hostile bytes make decoders and the EXIF parser raise almost anything (OSError for
        # truncation, SyntaxError, struct.error, KeyError...). Like Django's ImageField, treat
        # every failure to decode untrusted input as bad input, never as a 500.
        raise _invalid(label, "the image data is corrupt or truncated") from None
    image.info.clear()
    feed = image
    if image.width > FEED_WIDTH:
        feed_height = max(1, round(image.height * FEED_WIDTH / image.width))
        feed = image.resize((FEED_WIDTH, feed_height), Image.Resampling.LANCZOS)
    thumb = ImageOps.fit(image, THUMB_SIZE, Image.Resampling.LANCZOS)
    return Renditions(
        original=_jpeg(image),
        feed=_jpeg(feed),
        thumb=_jpeg(thumb),
        width=image.width,
        height=image.height,
    )
