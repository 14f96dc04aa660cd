"""Closing steps: a stop ends on time even when a step hangs, ignores its cancellation, or fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from app.shutdown import ClosingSteps
from tests.support.timing import MS

pytestmark = pytest.mark.timeout(10)


async def _stubborn(release: asyncio.Event) -> None:
    """A close that never returns and swallows every cancellation until released (a library bug's shape)."""
    while not release.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await release.wait()


async def _failing() -> None:
    raise ConnectionError("broker gone")


async def test_a_hung_step_is_left_behind_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def close_database() -> None:
        done.append("database")

    steps = ClosingSteps(0.0, floor_s=300 * MS)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="app.shutdown"):
        await steps.run("broker", _stubborn(release))
        await steps.run("database", close_database())
    assert done == ["database"]
    assert time.monotonic() - started < 3.0  # the stubborn step's floor, not forever
    assert steps.overran == ["broker"]
    assert "broker still running" in caplog.text and "_stubborn" in caplog.text  # where it was stuck
    release.set()


async def test_a_failing_step_is_logged_and_does_not_skip_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str] = []

    async def close_database() -> None:
        done.append("database")

    steps = ClosingSteps(5.0)
    with caplog.at_level(logging.ERROR, logger="app.shutdown"):
        await steps.run("broker", _failing())
        await steps.run("database", close_database())
    assert done == ["database"] and steps.overran == []
    assert "broker failed: ConnectionError: broker gone" in caplog.text


async def test_a_spent_budget_still_gives_each_step_its_floor() -> None:
    steps = ClosingSteps(0.0, floor_s=5.0)  # the drain used the whole budget
    closed: list[str] = []

    async def slow_close() -> None:
        await asyncio.sleep(50 * MS)
        closed.append("database")

    await steps.run("database", slow_close())
    assert closed == ["database"] and steps.overran == []
