"""mixed: feed readers, searchers and chat users in a realistic mix, plus a few image uploads."""

from __future__ import annotations

import io
import uuid

from locust import task
from PIL import Image

from loadtests.lab import LabUser
from loadtests.scenarios.feed import API_PATHS, FeedReader
from loadtests.scenarios.search import Searcher

__all__ = ["FeedReader", "Poster", "Searcher"]

# Readers dominate; chat is a smaller share of HTTP users but holds sockets; uploads are rare.
FeedReader.weight = 10
Searcher.weight = 5
# Locust runs every User class in this module's namespace: chat joins only when the API has it.
if not API_PATHS or "/api/chat/rooms" in API_PATHS:
    from loadtests.scenarios.chat import ChatUser

    ChatUser.weight = 2
    __all__ += ["ChatUser"]


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (480, 480), (200, 120, 60)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


PHOTO = _photo()


class Poster(LabUser):
    """Posts a photo with a caption now and then: the write path with image renditions."""

    weight = 1

    def wait_time(self) -> float:
        return super().wait_time() * 8

    @task
    def post_photo(self) -> None:
        boundary = uuid.uuid4().hex
        caption = f"load test #daily #일상 {uuid.uuid4().hex[:6]}"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\n'
                f'{caption}\r\n--{boundary}\r\nContent-Disposition: form-data; name="images"; '
                f'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            + PHOTO
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        with self.client.post(
            "/api/posts",
            data=body,  # type: ignore[arg-type]  # geventhttpclient sends bytes as they are
            headers=headers,
            name="/api/posts",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}")
