"""Password hashing (argon2id) off the event loop, in a bounded pool.

One argon2 verification costs tens of milliseconds of CPU by design. Run on the event
loop, it stalls every socket of the process for that long (a shift change is twenty logins
at once). So hashing runs in a small thread pool (argon2-cffi releases the GIL while it
hashes), at most ``threads`` at a time, with at most ``queue`` callers waiting; a caller that
cannot get a thread within ``wait_s`` gets :class:`HashingBusy` (503 with ``Retry-After``),
never an unbounded queue of logins nobody waits for any more.

The hashing threads also run at the lowest CPU priority (nice 19 by default): when a hashing thread
and the event loop want the same CPU, the loop wins at once, so a login burst costs the sockets
almost nothing even on one CPU. Logins are what waits, and they can (a person types a password; a
tablet must see its ticket now). On a host where other busy processes share the CPUs, nice 19 can
starve logins into 503s; ``nice`` (``HUB_HASH_NICE``) trades that back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.settings import Settings

__all__ = ["Argon2Params", "HashingBusy", "PasswordHashing", "Turn", "Verified", "password_hashing"]


@dataclass(frozen=True, slots=True)
class Argon2Params:
    time_cost: int = 2
    memory_kib: int = 19456
    parallelism: int = 1


@dataclass(frozen=True, slots=True)
class Verified:
    ok: bool
    rehashed: str | None = None
    """A hash of the same password with the current parameters, when the stored one used others."""


class HashingBusy(Exception):
    """Every hashing thread is busy and the queue is full, or the wait ran out."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"password hashing busy: retry in {retry_after_s:g}s")
        self.retry_after_s = retry_after_s


class PasswordHashing:
    """argon2id with parameters from settings; async methods run in the pool, ``*_sync`` ones inline."""

    def __init__(
        self,
        params: Argon2Params | None = None,
        *,
        threads: int = 1,
        queue: int = 64,
        wait_s: float = 5.0,
        nice: int = 19,
    ) -> None:
        p = params or Argon2Params()
        self._hasher = PasswordHasher(time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism)
        self._threads = threads
        self._queue = queue
        self._wait_s = wait_s
        self._nice = nice
        self._pool: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._admitted = 0  # running + waiting
        self._dummy: str | None = None

    # ---- inline (command line, seed) ----

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_sync(self, password_hash: str | None, password: str) -> Verified:
        """Check ``password``; an unknown user (``None``) costs the same time as a known one."""
        if password_hash is None:
            if self._dummy is None:  # benign race between threads: both compute a valid dummy
                self._dummy = self._hasher.hash(secrets.token_hex(8))
            self._check(self._dummy, password)
            return Verified(False)
        if not self._check(password_hash, password):
            return Verified(False)
        if self._hasher.check_needs_rehash(password_hash):
            return Verified(True, self._hasher.hash(password))
        return Verified(True)

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # ---- off the event loop ----

    async def hash(self, password: str) -> str:
        """Raises :class:`HashingBusy`."""
        async with self.turn() as turn:
            return await turn.hash(password)

    async def verify(self, password_hash: str | None, password: str) -> Verified:
        """Raises :class:`HashingBusy`."""
        async with self.turn() as turn:
            return await turn.verify(password_hash, password)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Turn]:
        """A hashing thread of one's own, for the block: admission among ``threads + queue``, then a free
        thread within ``wait_s``. Raises :class:`HashingBusy`.

        A login takes its turn *before* it reads the user: fifty logins at once then wait here, cheaply,
        instead of all running their database reads and ORM work on the event loop in the same instant
        (tens of milliseconds during which no socket is served); each does that work in its turn, beside
        the previous one's hashing.
        """
        if self._admitted >= self._threads + self._queue:
            raise HashingBusy(self._retry_after())
        if self._pool is None or self._slots is None:
            self._pool = ThreadPoolExecutor(
                self._threads, thread_name_prefix="argon2", initializer=_yield_cpu, initargs=(self._nice,)
            )
            self._slots = asyncio.Semaphore(self._threads)
        slots = self._slots
        self._admitted += 1
        try:
            try:
                await asyncio.wait_for(slots.acquire(), self._wait_s)
            except TimeoutError:
                raise HashingBusy(self._retry_after()) from None
            try:
                yield Turn(self, self._pool)
            finally:
                slots.release()
        finally:
            self._admitted -= 1

    def _retry_after(self) -> float:
        return max(1.0, self._wait_s / 2)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class Turn:
    """Hashing on a thread already taken (:meth:`PasswordHashing.turn`): no second wait."""

    def __init__(self, hashing: PasswordHashing, pool: ThreadPoolExecutor) -> None:
        self._hashing, self._pool = hashing, pool

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hashing.hash_sync, password)

    async def verify(self, password_hash: str | None, password: str) -> Verified:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hashing.verify_sync, password_hash, password)


def _yield_cpu(nice: int) -> None:
    """Lower this (hashing) thread's CPU priority to ``nice``; Linux sets niceness per thread."""
    if nice <= 0:
        return
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed: run at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def password_hashing(settings: Settings) -> PasswordHashing:
    """The hashing pool a process uses, with the argon2 parameters and limits of its settings."""
    params = Argon2Params(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    return PasswordHashing(
        params,
        threads=settings.hash_threads,
        queue=settings.hash_queue,
        wait_s=settings.hash_wait_s,
        nice=settings.hash_nice,
    )
