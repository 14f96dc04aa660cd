"""KDS snapshots encoded once per stream position, so a kitchen's tablets coming back together cost one query.

After a node restarts, every tablet of a shift asks ``GET /api/shifts/{id}/kds`` within the same
second. Each used to take the shift's lock, flush its outbox, read the open tickets and encode
them: one after another, since they share the lock. A snapshot is exact for the stream position
it was taken at (every ticket committed up to ``seq``, none after), and it stays exact while that
position does not move: any change to a ticket is an event on ``kds:{shift}``. So the encoded body
is kept with its ``seq``/``epoch`` and served again as long as the topic's position is the same.
Events committed but not yet published do not make it wrong: they will be published after ``seq``,
and a tablet subscribing with ``since`` that position receives them.

Entries also expire after ``ttl_s``: a guard against a change that reached the tickets without an
event, not part of the correctness argument.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hub.protocol.commands import Position

__all__ = ["KdsSnapshots", "Snapshot"]

TTL_S = 30.0
MAX_SHIFTS = 2000


@dataclass(frozen=True, slots=True)
class Snapshot:
    truck_id: int  # whose shift it is: the access check needs no query for a cached one
    seq: int
    epoch: str
    body: bytes  # the encoded response
    taken_at: float


class KdsSnapshots:
    """The latest encoded KDS snapshot of each shift (bounded; one event loop)."""

    def __init__(self, *, ttl_s: float = TTL_S, max_shifts: int = MAX_SHIFTS) -> None:
        self._ttl_s = ttl_s
        self._max = max_shifts
        self._entries: dict[int, Snapshot] = {}

    def get(self, shift_id: int) -> Snapshot | None:
        entry = self._entries.get(shift_id)
        if entry is not None and time.monotonic() - entry.taken_at >= self._ttl_s:
            del self._entries[shift_id]
            return None
        return entry

    @staticmethod
    def current(entry: Snapshot | None, top: Position) -> bool:
        """Whether ``entry`` was taken at the stream position ``top`` (nothing happened on the topic since)."""
        return entry is not None and entry.seq == top.seq and entry.epoch == top.epoch

    def put(self, shift_id: int, *, truck_id: int, top: Position, body: bytes) -> None:
        if len(self._entries) >= self._max and shift_id not in self._entries:
            self._entries.clear()  # bounded: a snapshot is one query away
        self._entries[shift_id] = Snapshot(truck_id, top.seq, top.epoch, body, time.monotonic())
