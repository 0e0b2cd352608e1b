"""Media in an S3-compatible bucket (MEDIA_STORAGE=s3): django-storages' S3 backend, with the
files' URLs kept on this site.

Every media write, read and delete goes through Django's storage API (``default_storage`` and
the models' file fields), so the local disk and a bucket are one setting apart. The one
difference: a file's URL stays ``MEDIA_URL + name`` (``/media/...``), served by
app/posts/media.py, which checks that the viewer may see the post that shows it before it
streams the object from the bucket. A bucket URL would skip that check, and a signed one
would differ per request, where a post's JSON is one cached body for every viewer.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage


class MediaS3Storage(S3Storage):
    """S3Storage whose ``url`` is the site's own ``/media/<name>``."""

    def url(
        self,
        name: str,
        parameters: object = None,
        expire: object = None,
        http_method: object = None,
    ) -> str:
        # As FileSystemStorage makes it, so a post's JSON is the same on either backend.
        return f"{settings.MEDIA_URL}{filepath_to_uri(name)}"
