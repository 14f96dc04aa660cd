"""The soak's bookkeeping and RSS verdict, table-driven (pure functions, no services)."""

from __future__ import annotations

import orjson
import pytest

from bench.soak_ledger import TAG, Ledger
from bench.soak_report import judge_rss


def _ticket(i: int) -> bytes:
    return orjson.dumps({"id": 100 + i, "number": i + 1, "customer_name": f"{TAG}-{i}"})


def _ledger() -> Ledger:
    return Ledger([0, 0, 1, 1], shifts=2, t0=0.0, rate=10.0)  # tablets 0, 1 on shift 0; tablets 2, 3 on shift 1


def test_a_ticket_on_every_tablet_of_its_shift_is_settled() -> None:
    ledger = _ledger()
    for i in range(2):
        ledger.on_sent()
        ledger.on_receipt(2 * i, f"{TAG}-{i}", 0.1)  # a receipt may come before the 201 (published first)
        ledger.on_answer(i, 201, _ticket(i), 0.2)
        ledger.on_receipt(2 * i + 1, f"{TAG}-{i}", 0.3)
    final = ledger.final(1.0)
    assert final["acknowledged"] == 2 and final["receipts"] == final["expected_receipts"] == 4
    assert final["lost"] == final["duplicates"] == final["strays"] == final["n_errors"] == 0


def test_missing_duplicate_stray_and_failed_orders_are_counted() -> None:
    ledger = _ledger()
    for _ in range(3):
        ledger.on_sent()
    ledger.on_answer(0, 201, _ticket(0), 0.1)
    ledger.on_receipt(0, f"{TAG}-0", 0.2)
    ledger.on_receipt(0, f"{TAG}-0", 0.3)  # twice on tablet 0, never on tablet 1
    ledger.on_receipt(2, f"{TAG}-0", 0.3)  # order 0 is shift 0's, tablet 2 is on shift 1
    ledger.on_receipt(3, "someone-else-7", 0.3)
    ledger.on_answer(1, 503, b'{"error":{"code":"unavailable"}}', 0.4)
    ledger.on_answer(2, 201, _ticket(0), 0.4)  # a 201 with another order's ticket
    assert ledger.window(10.0, overdue_s=5.0)["overdue"] == 1
    final = ledger.final(10.0)
    assert final["lost"] == 1 and final["lost_orders"] == 1
    assert final["lost_examples"] == [{"order": 0, "shift_index": 0, "tablets_without_it": [1]}]
    assert final["duplicates"] == 1 and final["strays"] == 2
    assert final["n_errors"] == 2 and final["errors"]["503 unavailable"] == 1


@pytest.mark.parametrize(
    ("samples", "ok"),
    [
        ([(60, 100_000), (300, 120_000), (600, 121_000), (1800, 125_000)], True),  # +5,000 KiB after warm-up
        ([(60, 100_000), (300, 120_000), (1800, 140_000)], False),  # +20,000 KiB: more than 10 MiB and 5 %
        ([(300, 400_000), (1800, 420_000)], True),  # +20,000 KiB, under 5 % of 400 MB
    ],
)
def test_rss_is_flat_when_it_grew_at_most_5_percent_or_10_mib_after_the_warm_up(
    samples: list[tuple[float, int]], ok: bool
) -> None:
    judged = judge_rss(samples, warmup_s=300)
    assert judged["ok"] is ok and judged["baseline_s"] == 300
    assert judged["slope_mib_per_min"] is not None and judged["slope_mib_per_min"] >= 0
