"""POST /api/posts: sniffed uploads, renditions, EXIF stripping, entities, all-or-nothing."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.accounts.models import User
from app.lab.testing import assert_queries
from app.posts import services
from app.posts.models import Hashtag, Mention, Place, Post, PostHashtag, PostImage
from app.testing import imagedata
from app.testing.client import assert_error, post_create
from app.testing.factories import PlaceFactory, UserFactory


def test_it_creates_a_post_with_every_rendition(alice, alice_client, bob, media_root):
    place = PlaceFactory(name="Seoul Forest")
    files = [
        imagedata.upload(imagedata.jpeg(2000, 1000)),
        imagedata.upload(imagedata.png(300, 400), name="b.png", content_type="image/png"),
    ]
    response = post_create(
        alice_client, files, caption="Lunch #맛집 #Seoul with @bob and @nobody", place=place.pk
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["author"]["username"] == "alice"
    assert body["place"] == {"id": place.pk, "name": "Seoul Forest"}
    assert [(i["position"], i["width"], i["height"]) for i in body["images"]] == [
        (0, 2000, 1000),
        (1, 300, 400),
    ]
    assert body["like_count"] == 0
    assert body["comment_count"] == 0
    assert body["comments_preview"] == []
    assert body["viewer_has_liked"] is False
    assert [(e["type"], e["text"]) for e in body["caption_entities"]] == [
        ("hashtag", "맛집"),
        ("hashtag", "seoul"),
        ("mention", "bob"),
        ("mention", "nobody"),
    ]

    first = PostImage.objects.get(post_id=body["id"], position=0)
    assert body["images"][0]["url"] == first.feed.url
    assert first.feed.url.startswith("/media/posts/feed/")
    with Image.open(media_root / first.feed.name) as feed:
        assert (feed.format, feed.size) == ("JPEG", (1080, 540))
    with Image.open(media_root / first.thumb.name) as thumb:
        assert thumb.size == (320, 320)
    with Image.open(media_root / first.original.name) as original:
        assert (original.format, original.size) == ("JPEG", (2000, 1000))
    # Three renditions per image, all under the test's MEDIA_ROOT.
    assert len(imagedata.stored_files(media_root)) == 6


def test_it_keeps_hashtag_mention_and_counters_exact(alice, alice_client, bob):
    place = PlaceFactory()
    for _ in range(2):
        response = post_create(
            alice_client,
            [imagedata.upload(imagedata.jpeg())],
            caption="#Seoul #SEOUL #\uff53\uff45\uff4f\uff55\uff4c @bob @ghost",
            place=place.pk,
        )
        assert response.status_code == 201, response.content

    tag = Hashtag.objects.get()
    assert tag.name == "seoul"
    assert tag.post_count == 2
    post = Post.objects.latest("id")
    assert tag.last_used_at == post.created_at
    assert PostHashtag.objects.get(post=post).created_at == post.created_at
    assert list(Mention.objects.values_list("user__username", flat=True)) == ["bob", "bob"]
    assert User.objects.get(pk=alice.pk).post_count == 2
    assert Place.objects.get(pk=place.pk).post_count == 2


def test_it_applies_exif_orientation_and_strips_exif(alice_client, media_root):
    raw = imagedata.jpeg_with_exif(200, 100)
    with Image.open(io.BytesIO(raw)) as source:
        assert source.getexif().get_ifd(0x8825)  # the fixture really carries GPS

    response = post_create(alice_client, [imagedata.upload(raw)])

    assert response.status_code == 201, response.content
    image = response.json()["images"][0]
    # Orientation 6 means "rotate 90 degrees clockwise to display": 200x100 becomes 100x200.
    assert (image["width"], image["height"]) == (100, 200)
    stored = PostImage.objects.get()
    for name in (stored.original.name, stored.feed.name, stored.thumb.name):
        data = (media_root / name).read_bytes()
        assert b"Exif" not in data
        assert b"LabCam" not in data
        with Image.open(io.BytesIO(data)) as saved:
            assert not saved.getexif()
    with Image.open(media_root / stored.original.name) as original:
        assert original.size == (100, 200)
        # The red marker drawn top-left lands top-right after a clockwise quarter turn.
        red, green, _ = original.convert("RGB").getpixel((95, 5))
        assert red > 200 and green < 80


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_it_survives_a_garbage_exif_block(alice_client, media_root):
    raw = imagedata.encoded(
        imagedata.picture(), "JPEG", exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff"
    )
    response = post_create(alice_client, [imagedata.upload(raw)])
    # Pillow may shrug off or reject the broken block; either way it is never a 500, and
    # whatever is stored carries no EXIF.
    assert response.status_code in {201, 400}, response.content
    for path in imagedata.stored_files(media_root):
        assert b"Exif" not in path.read_bytes()


def test_it_sniffs_the_type_from_the_bytes_not_the_name(alice_client):
    disguised = imagedata.upload(imagedata.webp(), name="notes.txt", content_type="text/plain")
    response = post_create(alice_client, [disguised])
    assert response.status_code == 201, response.content

    fake = imagedata.upload(b"<?php echo 'hi'; ?>", name="photo.jpg", content_type="image/jpeg")
    assert_error(post_create(alice_client, [fake]), 400, "invalid_image")


def test_it_rejects_formats_outside_jpeg_png_webp(alice_client):
    gif = imagedata.encoded(imagedata.picture(), "GIF")
    response = post_create(alice_client, [imagedata.upload(gif, name="a.jpg")])
    assert_error(response, 400, "invalid_image")


def test_it_rejects_a_truncated_image(alice_client):
    response = post_create(alice_client, [imagedata.upload(imagedata.truncated_jpeg())])
    assert_error(response, 400, "invalid_image")
    assert "images[0]" in response.json()["error"]["message"]


def test_it_creates_nothing_when_the_third_image_is_invalid(alice, alice_client, media_root):
    files = [
        imagedata.upload(imagedata.jpeg()),
        imagedata.upload(imagedata.png(), name="b.png"),
        imagedata.upload(imagedata.truncated_jpeg()),
    ]
    response = post_create(alice_client, files, caption="#nothing @alice")

    assert_error(response, 400, "invalid_image")
    assert "images[2]" in response.json()["error"]["message"]
    assert not Post.objects.exists()
    assert not PostImage.objects.exists()
    assert not Hashtag.objects.exists()
    assert User.objects.get(pk=alice.pk).post_count == 0
    assert imagedata.stored_files(media_root) == []


def test_it_removes_stored_files_when_the_transaction_fails(alice, media_root, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("database went away mid-post")

    monkeypatch.setattr(services, "_mentions_attach", explode)
    uploads = [imagedata.upload(imagedata.jpeg()), imagedata.upload(imagedata.jpeg())]

    with pytest.raises(RuntimeError):
        services.post_create(author=alice, uploads=uploads, caption="#x", place_id=None)

    assert not Post.objects.exists()
    assert not Hashtag.objects.exists()
    assert imagedata.stored_files(media_root) == []


def test_it_rejects_zero_and_eleven_images(alice_client):
    assert_error(post_create(alice_client, []), 400, "no_images")
    eleven = [imagedata.upload(imagedata.jpeg(8, 8)) for _ in range(11)]
    assert_error(post_create(alice_client, eleven), 400, "too_many_images")
    assert not Post.objects.exists()


def test_it_rejects_an_over_long_caption(alice_client):
    response = post_create(alice_client, [imagedata.upload(imagedata.jpeg())], caption="x" * 2201)
    assert_error(response, 400, "caption_too_long")
    ok = post_create(alice_client, [imagedata.upload(imagedata.jpeg())], caption="x" * 2200)
    assert ok.status_code == 201


def test_it_rejects_a_caption_with_a_nul_byte(alice_client):
    response = post_create(alice_client, [imagedata.upload(imagedata.jpeg())], caption="a\x00b")
    assert_error(response, 400, "invalid_request")
    assert "caption" in response.json()["error"]["message"]
    assert not Post.objects.exists()


def test_it_treats_an_empty_place_field_as_no_place(alice_client):
    response = post_create(alice_client, [imagedata.upload(imagedata.jpeg())], place="")
    assert response.status_code == 201, response.content
    assert response.json()["place"] is None


@pytest.mark.parametrize("place", ["999999", "99999999999999999999999", "abc", "-1"])
def test_it_rejects_an_unknown_or_malformed_place(alice_client, place):
    response = post_create(alice_client, [imagedata.upload(imagedata.jpeg())], place=place)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"unknown_place", "invalid_request"}
    assert not Post.objects.exists()


def test_it_rejects_an_image_over_the_pixel_cap(alice_client, settings):
    settings.MAX_UPLOAD_PIXELS = 64 * 48 - 1
    response = post_create(alice_client, [imagedata.upload(imagedata.jpeg(64, 48))])
    assert_error(response, 400, "image_too_large")


def test_it_rejects_an_image_over_the_byte_cap(alice_client, settings):
    data = imagedata.jpeg(64, 48)
    settings.MAX_UPLOAD_BYTES = len(data) - 1
    assert_error(post_create(alice_client, [imagedata.upload(data)]), 400, "image_too_large")


def test_it_rejects_a_decompression_bomb(alice_client, media_root):
    bomb = imagedata.png_bomb()
    assert len(bomb) < 200_000
    response = post_create(alice_client, [imagedata.upload(bomb, name="b.png")])
    assert_error(response, 400, "image_too_large")
    assert imagedata.stored_files(media_root) == []


def test_it_requires_authentication(anon_client):
    response = post_create(anon_client, [imagedata.upload(imagedata.jpeg())])
    assert_error(response, 401, "not_authenticated")


def test_it_rejects_a_json_body(alice_client):
    response = alice_client.post_json("/api/posts", {"caption": "no files"})
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("tags", [1, 25])
def test_post_create_query_count_does_not_grow_with_hashtags_mentions_or_images(alice, tags):
    place = PlaceFactory()
    users = [UserFactory(username=f"friend{i}") for i in range(tags)]
    caption = " ".join(f"#tag{i} @{user.username}" for i, user in enumerate(users))
    uploads = [imagedata.upload(imagedata.jpeg(16, 16)) for _ in range(1 if tags == 1 else 10)]

    # 1. does the place exist?
    # 2. SAVEPOINT (the test's transaction; BEGIN, uncounted, in production)
    # 3. INSERT the post
    # 4. INSERT every image row at once
    # 5. INSERT the hashtags ON CONFLICT DO NOTHING, all at once
    # 6. SELECT their ids
    # 7. INSERT the post-hashtag links at once
    # 8. UPDATE hashtag post_count and last_used_at
    # 9. SELECT the mentioned users that exist
    # 10. INSERT the mentions at once
    # 11. UPDATE the author's post_count
    # 12. UPDATE the place's post_count
    # 13. INSERT the mentioned users' notifications at once (app/notifications)
    # 14. RELEASE SAVEPOINT (COMMIT in production)
    with assert_queries(14):
        post = services.post_create(
            author=alice, uploads=uploads, caption=caption, place_id=place.pk
        )
    assert post.hashtags.count() == post.mentions.count() == tags
