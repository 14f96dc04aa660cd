"""Concurrent lookups answered by one query per batch."""

from __future__ import annotations

import asyncio

import pytest

from app.batched import BatchedLookup


class _Table:
    def __init__(self, rows: dict[str, int], fail: bool = False) -> None:
        self.rows, self.fail, self.queries = rows, fail, []  # type: ignore[var-annotated]

    async def fetch(self, keys: list[str]) -> dict[str, int]:
        self.queries.append(sorted(keys))
        await asyncio.sleep(0)  # a real query awaits the database
        if self.fail:
            raise OSError("database unreachable")
        return {k: self.rows[k] for k in keys if k in self.rows}


async def test_lookups_of_one_moment_share_one_query() -> None:
    table = _Table({"a": 1, "b": 2})
    lookup = BatchedLookup(table.fetch)
    got = await asyncio.gather(*(lookup.get(k) for k in ["a", "b", "a", "nope"]))
    assert got == [1, 2, 1, None] and table.queries == [["a", "b", "nope"]]
    assert await lookup.get("b") == 2 and len(table.queries) == 2  # later lookups: a query of their own


async def test_lookups_arriving_during_a_query_wait_for_the_next_one() -> None:
    table = _Table({str(i): i for i in range(10)})
    lookup = BatchedLookup(table.fetch, max_batch=4)
    got = await asyncio.gather(*(lookup.get(str(i)) for i in range(10)))
    assert got == list(range(10)) and [len(q) for q in table.queries] == [4, 4, 2]


async def test_a_failed_query_fails_every_lookup_of_its_batch_and_the_next_batch_tries_again() -> None:
    table = _Table({"a": 1}, fail=True)
    lookup = BatchedLookup(table.fetch)
    results = await asyncio.gather(lookup.get("a"), lookup.get("b"), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    table.fail = False
    assert await lookup.get("a") == 1


async def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    table = _Table({"a": 1})
    lookup = BatchedLookup(table.fetch)
    impatient = asyncio.ensure_future(lookup.get("a"))
    patient = asyncio.ensure_future(lookup.get("a"))
    impatient.cancel()
    assert await patient == 1
    with pytest.raises(asyncio.CancelledError):
        await impatient
