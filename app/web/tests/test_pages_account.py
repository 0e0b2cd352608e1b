"""The account pages' shells: who may open them, and what the profile renders before its
script runs (counts in the singular or plural, list links, the own profile's tabs)."""

from __future__ import annotations

import pytest
from django.test import Client

from app.accounts.models import User

pytestmark = pytest.mark.django_db


def browser(user: User | None = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def html(path: str, user: User | None = None) -> str:
    response = browser(user).get(path)
    assert response.status_code == 200
    return str(response.content.decode())


@pytest.mark.parametrize("path", ["/accounts/edit", "/accounts/requests", "/u/bob/saved"])
def test_the_own_account_pages_need_a_signed_in_user(path: str, bob: User) -> None:
    response = browser().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/accounts/edit", "account_edit"),
        ("/accounts/requests", "follow_requests"),
        ("/u/alice/followers", "follow_list"),
        ("/u/alice/following", "follow_list"),
        ("/u/bob/saved", "profile"),
    ],
)
def test_it_tells_the_script_which_account_page_it_is(path: str, page: str, bob: User) -> None:
    assert f'data-page="{page}"' in html(path, bob)


def test_saved_posts_are_only_the_owners(alice: User, bob: User) -> None:
    assert browser(bob).get("/u/alice/saved").status_code == 404
    assert 'data-tab="saved"' in html("/u/bob/saved", bob)


def test_a_profile_says_one_post_and_one_follower(alice: User, bob: User) -> None:
    User.objects.filter(pk=alice.pk).update(post_count=1, following_count=2)

    page = html("/u/alice", alice)

    assert '<span data-noun="post">post</span>' in page
    assert '<span data-noun="follower">follower</span>' in page
    assert "</strong> following</a>" in page
    User.objects.filter(pk=alice.pk).update(post_count=0, follower_count=2)
    page = html("/u/alice", alice)
    assert '<span data-noun="post">posts</span>' in page
    assert '<span data-noun="follower">followers</span>' in page


def test_only_the_owner_gets_tabs_and_an_edit_button(alice: User, bob: User) -> None:
    own = html("/u/alice", alice)
    assert 'href="/accounts/edit"' in own
    assert 'href="/u/alice/saved"' in own
    theirs = html("/u/alice", bob)
    assert 'href="/accounts/edit"' not in theirs
    assert 'href="/u/alice/saved"' not in theirs


def test_a_private_accounts_lists_are_links_for_the_owner_only_before_the_script(
    alice: User, bob: User, charlie: User
) -> None:
    # The shell is rendered without a follow lookup: for bob, who follows alice, the script
    # turns the counts into links once the profile API says so.
    for viewer, linked in ((alice, True), (bob, False), (charlie, False), (None, False)):
        page = html("/u/alice", viewer)
        assert ('href="/u/alice/followers"' in page) is linked
        assert ('href="/u/alice/following"' in page) is linked
    assert 'href="/u/charlie/followers"' in html("/u/charlie")
