"""Upload validation and renditions: sniff with Pillow, cap size and pixels, strip EXIF."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from app.lab.api import ApiError, bad_request

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
    try:
        # Reads the header only; the format comes from the bytes, never the name or type.
        with Image.open(upload, formats=ALLOWED_FORMATS) as opened:
            width, height = opened.size
            if width * height > settings.MAX_UPLOAD_PIXELS:
                raise bad_request(
                    "image_too_large",
                    f"{label}: more than {settings.MAX_UPLOAD_PIXELS} pixels",
                )
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
