"""The soak's account of every order: acknowledged by the hub (201 with its own ticket), and received by which
tablets of its shift. Pure bookkeeping, no I/O (the soak's POS process, :mod:`bench.soakload`, feeds it).

Order ``i`` goes to shift ``i mod S`` and is tagged ``soak-{i}`` (its ``customer_name``), so a tablet's
``ticket.created`` names the order even before the REST answer is back (the hub publishes before it answers,
protocol.md §3). An acknowledged order is *pending* until every tablet of its shift got it; at the end, what is
still pending is *lost* (acknowledged, never received by some tablet). A tablet that gets a ticket twice counts a
*duplicate*; a ticket of another shift or an unknown name counts a *stray*.
"""

from __future__ import annotations

from typing import Any

import orjson

from bench.measure import percentiles

__all__ = ["TAG", "Ledger"]

TAG = "soak"
_KEEP = 5  # examples kept of each kind of failure


class Ledger:
    """Acknowledgements and receipts of one soak; ``tablet_shift[k]`` is the shift index of tablet ``k``."""

    def __init__(self, tablet_shift: list[int], shifts: int, t0: float, rate: float) -> None:
        self.tablet_shift, self.shifts, self.t0, self.rate = tablet_shift, shifts, t0, rate
        self.per_shift = [0] * shifts
        for s in tablet_shift:
            self.per_shift[s] += 1
        self.sent = self.answered = 0
        self.acked: set[int] = set()
        self.pending: dict[int, float] = {}  # acknowledged, not yet on every tablet of its shift: when acknowledged
        self.received: dict[int, int] = {}  # order → distinct tablets that got it
        self.got: list[set[int]] = [set() for _ in tablet_shift]
        self.errors: dict[str, int] = {}
        self.error_examples: list[str] = []
        self.duplicates = self.strays = 0
        self._rest: list[float] = []  # this window's REST answer times, s from the schedule
        self._tablet: list[float] = []  # this window's order → tablet times

    def expected(self, i: int) -> int:
        return self.per_shift[i % self.shifts]

    def on_sent(self) -> None:
        self.sent += 1

    def on_answer(self, i: int, status: int, raw: bytes, now: float) -> None:
        """The POS got ``status`` for order ``i``: a 201 carrying its own ticket acknowledges it."""
        self.answered += 1
        self._rest.append(now - (self.t0 + i / self.rate))
        if status == 201 and _ticket_of(raw) == f"{TAG}-{i}":
            self.acked.add(i)
            if self.received.get(i, 0) < self.expected(i):
                self.pending[i] = now
            return
        key = f"{status} {_error_code(raw)}" if status > 0 else raw.decode(errors="replace")[:60]
        self.on_error(key, f"order {i}: {key}")

    def on_error(self, key: str, example: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1
        if len(self.error_examples) < _KEEP:
            self.error_examples.append(example)

    def on_receipt(self, tablet: int, name: str, now: float) -> None:
        prefix, _, num = name.rpartition("-")
        i = int(num) if prefix == TAG and num.isdigit() else -1
        if i < 0 or i % self.shifts != self.tablet_shift[tablet]:
            self.strays += 1
            return
        mine = self.got[tablet]
        if i in mine:
            self.duplicates += 1
            return
        mine.add(i)
        n = self.received[i] = self.received.get(i, 0) + 1
        self._tablet.append(now - (self.t0 + i / self.rate))
        if n >= self.expected(i):
            self.pending.pop(i, None)

    def window(self, now: float, overdue_s: float) -> dict[str, Any]:
        """Totals so far, and this window's latencies (which start afresh)."""
        rest, tablet, self._rest, self._tablet = self._rest, self._tablet, [], []
        return {
            "sent": self.sent,
            "answered": self.answered,
            "in_flight": self.sent - self.answered,  # sent, not answered yet (queued on a busy machine)
            "acknowledged": len(self.acked),
            "receipts": sum(self.received.get(i, 0) for i in self.acked),  # of acknowledged orders
            "expected_receipts": sum(self.expected(i) for i in self.acked),
            "pending": sum(self.expected(i) - self.received.get(i, 0) for i in self.pending),
            "overdue": sum(
                self.expected(i) - self.received.get(i, 0) for i, t in self.pending.items() if now - t > overdue_s
            ),  # fmt: skip
            "duplicates": self.duplicates,
            "strays": self.strays,
            "errors": dict(self.errors),
            "n_errors": sum(self.errors.values()),
            "rest_ms": percentiles(rest),
            "tablet_ms": percentiles(tablet),
        }

    def final(self, now: float) -> dict[str, Any]:
        """After the grace: what is still pending is lost; receipts of orders never acknowledged are counted."""
        lost = [(i, self.expected(i) - self.received.get(i, 0)) for i in sorted(self.pending)]
        examples = []
        for i, _ in lost[:_KEEP]:
            missing = [k for k, s in enumerate(self.tablet_shift) if s == i % self.shifts and i not in self.got[k]]
            examples.append({"order": i, "shift_index": i % self.shifts, "tablets_without_it": missing})
        return self.window(now, 0.0) | {
            "lost": sum(n for _, n in lost),
            "lost_orders": len(lost),
            "lost_examples": examples,
            "unacknowledged_receipts": sum(n for i, n in self.received.items() if i not in self.acked),
            "error_examples": list(self.error_examples),
        }


def _ticket_of(raw: bytes) -> str | None:
    """The ``customer_name`` of a 201 body, a ticket (protocol.md §4.1)."""
    try:
        ticket = orjson.loads(raw)
        return str(ticket["customer_name"]) if ticket["id"] and ticket["number"] else None
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


def _error_code(raw: bytes) -> str:
    try:
        return str(orjson.loads(raw)["error"]["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw[:60].decode(errors="replace")
