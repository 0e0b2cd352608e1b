"""The production password hasher: Django's PBKDF2, bit for bit, computed on niced threads."""

from __future__ import annotations

import os
import threading

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from app.accounts import hashers
from app.accounts.hashers import LowPriorityPBKDF2PasswordHasher


def test_it_hashes_and_verifies_exactly_as_djangos_pbkdf2() -> None:
    ours, django = LowPriorityPBKDF2PasswordHasher(), PBKDF2PasswordHasher()

    encoded = ours.encode("correct-horse-battery-9", "fixedsalt1234567", iterations=1000)

    assert encoded == django.encode("correct-horse-battery-9", "fixedsalt1234567", 1000)
    assert ours.algorithm == django.algorithm == "pbkdf2_sha256"
    assert django.verify("correct-horse-battery-9", encoded)
    assert ours.verify("correct-horse-battery-9", encoded)
    assert not ours.verify("wrong", encoded)


def test_the_hash_runs_on_a_thread_of_lower_priority() -> None:
    seen: dict[str, object] = {}

    def where() -> None:
        seen["thread"] = threading.current_thread().name
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, 0)

    hashers.hash_pool().submit(where).result()

    assert str(seen["thread"]).startswith("password-hash")
    assert seen["nice"] == hashers.HASH_NICE
    assert os.getpriority(os.PRIO_PROCESS, 0) < hashers.HASH_NICE  # the caller is not niced
