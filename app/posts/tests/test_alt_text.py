"""Alt text: one optional description per photo, sent with the upload, returned on each image."""

from __future__ import annotations

from app.testing import imagedata
from app.testing.client import assert_error, post_create


def test_it_keeps_each_photos_alt_text_in_order(alice_client, media_root):
    files = [imagedata.upload(imagedata.jpeg(200, 100)) for _ in range(3)]
    response = post_create(alice_client, files, alt_text=["A red kite over the dunes", ""])

    assert response.status_code == 201, response.content
    created = response.json()
    assert [image["alt_text"] for image in created["images"]] == [
        "A red kite over the dunes",
        "",
        "",
    ]
    # The detail, rendered again (and then from Redis), says the same.
    for _ in range(2):
        detail = alice_client.get_json(f"/api/posts/{created['id']}").json()
        assert [image["alt_text"] for image in detail["images"]] == [
            "A red kite over the dunes",
            "",
            "",
        ]


def test_it_rejects_more_alt_texts_than_photos_or_an_over_long_one(alice_client):
    photo = imagedata.jpeg(20, 20)
    many = post_create(alice_client, [imagedata.upload(photo)], alt_text=["one", "two"])
    assert_error(many, 400, "too_many_alt_texts")
    long = post_create(alice_client, [imagedata.upload(photo)], alt_text=["x" * 501])
    assert_error(long, 400, "alt_text_too_long")
