"""In-memory test images: real JPEG/PNG/WebP, EXIF with GPS, truncated data, bombs, and a PNG
whose header lies about its size."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image, ImageDraw

ORIENTATION_ROTATE_90_CW = 6


def picture(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    """A picture with a marker in the top-left corner, so rotation is observable."""
    image = Image.new(mode, (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 4, height // 4), fill="red")
    draw.line((0, height - 1, width - 1, 0), fill="blue", width=2)
    return image


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def jpeg(width: int = 64, height: int = 48) -> bytes:
    return encoded(picture(width, height), "JPEG")


def png(width: int = 64, height: int = 48) -> bytes:
    return encoded(picture(width, height, "RGBA"), "PNG")


def webp(width: int = 64, height: int = 48) -> bytes:
    return encoded(picture(width, height), "WEBP")


def jpeg_with_exif(width: int = 200, height: int = 100) -> bytes:
    """Orientation 6 (display rotated 90 degrees clockwise) plus a GPS position."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = ORIENTATION_ROTATE_90_CW
    exif[ExifTags.Base.Make] = "LabCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (37.0, 33.0, 59.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (126.0, 58.0, 40.0)
    return encoded(picture(width, height), "JPEG", exif=exif)


def truncated_jpeg() -> bytes:
    data = jpeg(400, 300)
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` but whose pixel data is a few bytes:
    what the header promises is all a precheck may read."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def png_bomb(side: int = 20_000) -> bytes:
    """A real 1-bit PNG of ``side`` x ``side`` black pixels: ~50 KB that inflates to ~50 MB
    and far past Pillow's decompression-bomb limit."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def upload(
    data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_files(root: Path) -> list[Path]:
    """Every file under ``root`` (the test's MEDIA_ROOT)."""
    return sorted(path for path in root.rglob("*") if path.is_file())
