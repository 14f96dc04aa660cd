"""The hashing pool's turns: a caller's block runs only on a thread of its own, at the lowest CPU priority."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from app.passwords import Argon2Params, HashingBusy, PasswordHashing
from app.settings import Settings, SettingsError

CHEAP = Argon2Params(time_cost=1, memory_kib=64)


async def _settle() -> None:
    """Let every task that can run, run (a handful of loop turns; nothing here waits on time)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_block_waits_for_a_free_thread_before_it_starts() -> None:
    """A login's database read is inside its turn: fifty logins at once do not all read at once."""
    hashing = PasswordHashing(CHEAP, threads=1, queue=8, wait_s=30.0)
    entered: list[str] = []
    release = asyncio.Event()

    async def login(name: str) -> None:
        async with hashing.turn() as turn:
            entered.append(name)
            await release.wait()
            assert (await turn.verify(None, "x")).ok is False  # no second wait for a thread

    try:
        first = asyncio.ensure_future(login("first"))
        await _settle()
        second = asyncio.ensure_future(login("second"))
        await _settle()
        assert entered == ["first"]
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 30)
        assert entered == ["first", "second"]
    finally:
        hashing.close()


async def test_a_full_queue_is_refused_at_once() -> None:
    hashing = PasswordHashing(CHEAP, threads=1, queue=1, wait_s=30.0)
    release = asyncio.Event()

    async def hold() -> None:
        async with hashing.turn():
            await release.wait()

    try:
        holders = [asyncio.ensure_future(hold()) for _ in range(2)]  # one on the thread, one queued
        await _settle()
        with pytest.raises(HashingBusy) as busy:
            await hashing.verify(None, "x")
        assert busy.value.retry_after_s >= 1
        release.set()
        await asyncio.wait_for(asyncio.gather(*holders), 30)
    finally:
        hashing.close()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="per-thread niceness is a Linux feature")
@pytest.mark.parametrize("nice", [19, 7, 0])
async def test_hashing_threads_run_at_the_configured_cpu_priority(nice: int) -> None:
    """When a hashing thread and the event loop want the same CPU, the loop wins (nice 19 by default)."""
    before = set(threading.enumerate())
    hashing = PasswordHashing(CHEAP, threads=1, nice=nice)
    try:
        await hashing.hash("secret")
        pool_threads = [t for t in set(threading.enumerate()) - before if t.name.startswith("argon2")]
        assert len(pool_threads) == 1 and pool_threads[0].native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, pool_threads[0].native_id) == nice
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0  # the loop's thread is untouched
    finally:
        hashing.close()


def test_hashing_priority_comes_from_settings_within_niceness_range() -> None:
    assert Settings.from_env({"HUB_HASH_NICE": "5"}).hash_nice == 5 and Settings().hash_nice == 19
    for bad in ("-1", "20"):
        with pytest.raises(SettingsError, match=f"HUB_HASH_NICE={bad} must be between 0"):
            Settings.from_env({"HUB_HASH_NICE": bad})
