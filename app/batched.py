"""Many concurrent lookups by key, answered by one query per batch.

After a node restarts, thousands of tablets say hello within a second or two and each needs a
row read (is its login session still open? which devices does its user have?). One ORM query
per hello costs a pool connection, a thread hop and a millisecond or two of Python each, and
they queue for the pool. Here the lookups that arrive while a query is under way wait for the
next one, which asks for all of their keys at once (``WHERE key IN (…)``): a storm of 5,000
hellos becomes a few dozen queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BatchedLookup"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchedLookup(Generic[K, V]):
    """``await get(key)``: the value ``fetch`` found for ``key`` (``None``: not found). One event loop."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], *, max_batch: int = 500) -> None:
        """``fetch(keys)``: one query for every key; a key missing from its answer was not found."""
        self._fetch = fetch
        self._max_batch = max_batch
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._runner: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        """Raises whatever ``fetch`` raised for the batch this key was in."""
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="batched-lookup")
        return await future

    async def _run(self) -> None:
        batch: dict[K, list[asyncio.Future[V | None]]] = {}
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the lookups of this loop iteration join the batch
                keys = list(self._waiting)[: self._max_batch]
                batch = {key: self._waiting.pop(key) for key in keys}
                live = [key for key, futures in batch.items() if any(not f.done() for f in futures)]
                if not live:  # every caller gave up (timed out) meanwhile
                    continue
                try:
                    found = await self._fetch(live)
                except Exception as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                                future.exception()  # retrieved here: a caller that gave up never will
                    continue
                for key, futures in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(found.get(key))
        finally:
            self._runner = None
            for futures in [*batch.values(), *self._waiting.values()]:  # cancelled (shutdown): nobody is left hanging
                for future in futures:
                    future.cancel()
            self._waiting.clear()
