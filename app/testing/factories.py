"""factory_boy factories: users and follows; posts, images, likes, saves, comments, hashtags
and places."""

from __future__ import annotations

import factory

from app.accounts.models import Follow, User
from app.posts.models import Comment, Hashtag, Like, Place, Post, PostImage, Save


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    name = factory.Faker("name")
    bio = factory.Faker("sentence", nb_words=8)
    password = factory.django.Password("lab-password")


class FollowFactory(factory.django.DjangoModelFactory[Follow]):
    class Meta:
        model = Follow

    follower = factory.SubFactory(UserFactory)
    followee = factory.SubFactory(UserFactory)


class PlaceFactory(factory.django.DjangoModelFactory[Place]):
    class Meta:
        model = Place

    name = factory.Faker("city")
    address = factory.Faker("street_address")
    latitude = factory.Faker("latitude")
    longitude = factory.Faker("longitude")


class HashtagFactory(factory.django.DjangoModelFactory[Hashtag]):
    class Meta:
        model = Hashtag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class PostFactory(factory.django.DjangoModelFactory[Post]):
    class Meta:
        model = Post

    author = factory.SubFactory(UserFactory)
    caption = factory.Faker("sentence", nb_words=10)


class PostImageFactory(factory.django.DjangoModelFactory[PostImage]):
    """Rows only: the file names point nowhere, which is all a read test needs."""

    class Meta:
        model = PostImage

    post = factory.SubFactory(PostFactory)
    position = factory.Sequence(lambda n: n % 10)
    original = factory.LazyAttribute(lambda i: f"posts/original/test/{i.post.pk}-{i.position}.jpg")
    feed = factory.LazyAttribute(lambda i: f"posts/feed/test/{i.post.pk}-{i.position}.jpg")
    thumb = factory.LazyAttribute(lambda i: f"posts/thumb/test/{i.post.pk}-{i.position}.jpg")
    width = 1080
    height = 1350


class LikeFactory(factory.django.DjangoModelFactory[Like]):
    class Meta:
        model = Like

    user = factory.SubFactory(UserFactory)
    post = factory.SubFactory(PostFactory)


class SaveFactory(factory.django.DjangoModelFactory[Save]):
    class Meta:
        model = Save

    user = factory.SubFactory(UserFactory)
    post = factory.SubFactory(PostFactory)


class CommentFactory(factory.django.DjangoModelFactory[Comment]):
    class Meta:
        model = Comment

    post = factory.SubFactory(PostFactory)
    author = factory.SubFactory(UserFactory)
    text = factory.Faker("sentence", nb_words=6)
