"""The hashing pool's threads run below the event loop's CPU priority; the loop's own priority is untouched."""

from __future__ import annotations

import os
import sys

import pytest

from app.passwords import HASH_THREAD_NICE, Argon2Params, PasswordHashing, Verified

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="niceness is per thread on Linux only")

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)


async def test_hashing_threads_run_below_the_loops_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    hashing = PasswordHashing(CHEAP, threads=2)
    loop_nice = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[int] = []

    def verify_sync(password_hash: str | None, password: str) -> Verified:
        seen.append(os.getpriority(os.PRIO_PROCESS, 0))  # this thread's niceness: the pool thread's
        return Verified(True)

    monkeypatch.setattr(hashing, "verify_sync", verify_sync)
    try:
        assert (await hashing.verify(None, "x")).ok
        assert await hashing.hash("x")  # the same pool, real argon2 in a lowered thread
    finally:
        hashing.close()
    assert seen == [min(19, loop_nice + HASH_THREAD_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, 0) == loop_nice  # the loop's thread kept its priority
