"""Password hashing at low CPU priority: a second of PBKDF2 per login must not starve requests.

PBKDF2 releases the GIL, so a hash costs the other requests of a process nothing but the CPU
it takes; on a two-core box two hashes at once took all of it (docs/reliability.md, "Abuse
limits"). Hashes therefore run on this process's own hashing threads, niced to HASH_NICE once
at their start (on Linux a thread's nice value is its own), so the scheduler gives any
request's thread the CPU first. The request thread waits for the result; how many hashes a
process runs or queues at once is bounded by app/core/ratelimit.password_slot.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher

HASH_NICE = 10


def _lower_priority() -> None:
    # A container may forbid it; the hash is then merely not deprioritised.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, 0, HASH_NICE)


@functools.cache
def hash_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The hashing threads of this process (created on first use, so after a fork)."""
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=2, thread_name_prefix="password-hash", initializer=_lower_priority
    )


class LowPriorityPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2-SHA256, same algorithm name and encoding (existing hashes verify), run
    on the niced hashing threads."""

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        compute: Any = super().encode
        return str(hash_pool().submit(compute, password, salt, iterations).result())
