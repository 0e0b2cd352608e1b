"""The typeahead's cache: one entry per prefix for every viewer, as the suggestions were."""

from __future__ import annotations

from app.testing.factories import UserFactory


def test_it_suggests_the_same_items_to_everyone_private_accounts_included(
    alice, bob, charlie, anon_client, alice_client, bob_client, charlie_client
):
    UserFactory(username="alfred", follower_count=3)
    # The first asker fills the cache; the others read it, so all must see the same items.
    bodies = [
        client.get_json("/api/search/suggest", {"q": "al"}).json()
        for client in (charlie_client, anon_client, alice_client, bob_client)
    ]
    assert all(body == bodies[0] for body in bodies)
    # alice is private: her account is suggested (a name, not her posts), as before.
    assert [item["text"] for item in bodies[0]["items"]] == ["alfred", "alice"]
    assert set(bodies[0]["items"][0]) == {"kind", "id", "text", "detail", "image_url"}
