"""Contract suite for LoginThrottle implementations: one process's, and the one every node shares in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.throttle import LoginThrottle, MemoryLoginThrottle, Throttled, ThrottleLimits, reserve
from app.throttle.redis import RedisLoginThrottle
from tests.conftest import service_url

LIMITS = ThrottleLimits(per_pair=5, per_address=20, window_s=300, per_account=8, known_s=3600)


@pytest.fixture(params=["memory", "redis"])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[LoginThrottle]:
    if request.param == "memory":
        yield MemoryLoginThrottle(LIMITS)
        return
    client = Redis.from_url(service_url("HUB_TEST_REDIS_URL"))
    namespace = f"t{uuid.uuid4().hex[:10]}"
    try:
        yield RedisLoginThrottle(client, LIMITS, namespace=namespace)
    finally:
        keys = [key async for key in client.scan_iter(f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _fail(throttle: LoginThrottle, username: str, address: str) -> None:
    attempt = await reserve(throttle, username, address, wait_s=1.0)
    await throttle.settle(attempt, succeeded=False)


async def test_failures_per_username_and_address_are_limited(throttle: LoginThrottle) -> None:
    for _ in range(5):
        await _fail(throttle, "chef", "10.0.0.1")
    with pytest.raises(Throttled) as refused:
        await throttle.try_reserve("CHEF", "10.0.0.1")  # usernames compare case-insensitively
    assert 290 < refused.value.retry_after_s <= 300 and not refused.value.busy
    assert await throttle.try_reserve("cook2", "10.0.0.1") is not None  # another user from there: fine


async def test_parallel_attempts_cannot_exceed_the_limit(throttle: LoginThrottle) -> None:
    """Thirty at once for one username: five are checked, the other twenty-five are refused, never let through."""
    checked = 0

    async def attempt() -> str:
        nonlocal checked
        try:
            taken = await reserve(throttle, "chef", "10.0.0.1", wait_s=5.0)
        except Throttled:
            return "429"
        checked += 1
        await asyncio.sleep(0)  # the password check takes a while; others arrive meanwhile
        await throttle.settle(taken, succeeded=False)
        return "401"

    results = await asyncio.gather(*(attempt() for _ in range(30)))
    assert results.count("401") == 5 and results.count("429") == 25 and checked == 5


async def test_pending_attempts_queue_instead_of_failing(throttle: LoginThrottle) -> None:
    """A kitchen's burst of right passwords from one address is queued behind the limit, not refused."""
    held = [await reserve(throttle, f"user{i}", "10.0.0.9", wait_s=1.0) for i in range(20)]
    assert await throttle.try_reserve("late", "10.0.0.9") is None  # crowded, not throttled
    waiter = asyncio.create_task(reserve(throttle, "late", "10.0.0.9", wait_s=5.0))
    await throttle.settle(held[0], succeeded=True)
    assert (await waiter).username == "late"
    with pytest.raises(Throttled) as busy:
        await reserve(throttle, "later", "10.0.0.9", wait_s=0.05)
    assert busy.value.busy


async def test_a_success_forgives_earlier_typos_from_that_address(throttle: LoginThrottle) -> None:
    for _ in range(4):
        await _fail(throttle, "chef", "10.0.0.1")
    ok = await reserve(throttle, "chef", "10.0.0.1", wait_s=1.0)
    await throttle.settle(ok, succeeded=True)
    for _ in range(5):
        await _fail(throttle, "chef", "10.0.0.1")
    with pytest.raises(Throttled):
        await throttle.try_reserve("chef", "10.0.0.1")


async def test_strangers_cannot_lock_a_user_out_of_their_own_address(throttle: LoginThrottle) -> None:
    ok = await reserve(throttle, "admin", "192.168.1.5", wait_s=1.0)
    await throttle.settle(ok, succeeded=True)  # the admin's office address is now known
    for i in range(8):  # a distributed guesser fills the account counter from eight addresses
        await _fail(throttle, "admin", f"203.0.113.{i}")
    with pytest.raises(Throttled):
        await throttle.try_reserve("admin", "203.0.113.99")  # a ninth stranger is refused
    assert await throttle.try_reserve("admin", "192.168.1.5") is not None  # the admin still gets in


async def test_a_cancelled_attempt_gives_its_place_back(throttle: LoginThrottle) -> None:
    held = [await reserve(throttle, "chef", "10.0.0.1", wait_s=1.0) for _ in range(5)]
    assert await throttle.try_reserve("chef", "10.0.0.1") is None
    for attempt in held:
        await throttle.cancel(attempt)
    assert await throttle.try_reserve("chef", "10.0.0.1") is not None
