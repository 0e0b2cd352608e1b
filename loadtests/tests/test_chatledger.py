"""Chat delivery bookkeeping: lost, duplicated and in-flight messages."""

from __future__ import annotations

import pytest

from loadtests.chatledger import GRACE_SECONDS, ChatLedger, tallies_merge


def test_it_counts_an_acked_message_never_echoed_as_lost():
    ledger = ChatLedger()
    ledger.on_send(client_id="a", sender="alice#1", room=1, at=100.0)
    ledger.on_send(client_id="b", sender="alice#1", room=1, at=100.0)
    assert ledger.on_ack(client_id="a", at=100.05) == pytest.approx(50.0)
    ledger.on_ack(client_id="b", at=100.05)
    assert ledger.on_new(receiver="alice#1", client_id="a") is True
    tally = ledger.tally(now=200.0)
    assert (tally["sent"], tally["acked"], tally["lost"], tally["duplicated"]) == (2, 2, 1, 0)


def test_it_counts_a_second_delivery_to_one_socket_as_duplicated():
    ledger = ChatLedger()
    ledger.on_send(client_id="a", sender="alice#1", room=1, at=100.0)
    ledger.on_ack(client_id="a", at=100.01)
    assert ledger.on_new(receiver="alice#1", client_id="a") is True
    assert ledger.on_new(receiver="alice#1", client_id="a") is False
    # Another socket of the same person is another receiver, not a duplicate.
    assert ledger.on_new(receiver="alice#2", client_id="a") is True
    tally = ledger.tally(now=200.0)
    assert (tally["duplicated"], tally["deliveries"], tally["lost"]) == (1, 3, 0)


def test_it_treats_the_last_seconds_as_in_flight_not_lost():
    ledger = ChatLedger()
    ledger.on_send(client_id="late", sender="bob#1", room=2, at=100.0)
    tally = ledger.tally(now=100.0 + GRACE_SECONDS / 2)
    assert (tally["in_flight"], tally["lost"], tally["unacked"]) == (1, 0, 0)
    assert ledger.tally(now=100.0 + GRACE_SECONDS * 2)["unacked"] == 1


def test_it_ignores_acks_for_messages_it_did_not_send():
    assert ChatLedger().on_ack(client_id="other") is None


def test_it_sums_tallies_of_several_processes():
    merged = tallies_merge(
        [
            {"sent": 2, "lost": 1, "errors": {"rate_limited": 1}},
            {"sent": 3, "lost": 0, "errors": {"rate_limited": 2, "not_found": 1}},
        ]
    )
    assert merged == {"sent": 5, "lost": 1, "errors": {"rate_limited": 3, "not_found": 1}}
