"""hub_client's pure parts: the close-code policy, full-jitter backoff, and a subscription's position rules."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub_client import Action, Backoff, Event, Position, Resync, after_close
from hub_client.subscription import Accept, Subscription


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (1000, Action.RECONNECT),
        (1001, Action.RECONNECT),
        (1006, Action.RECONNECT),
        (1011, Action.RECONNECT),
        (1013, Action.RECONNECT),  # an overloaded node refusing a hello: jittered backoff, then again
        (4408, Action.RECONNECT),
        (4500, Action.RECONNECT),
        (4401, Action.REFRESH),
        (4429, Action.BACK_OFF),
        (1007, Action.STOP),
        (1009, Action.STOP),
        (4400, Action.STOP),
        (4999, Action.RECONNECT),  # unknown: never strand a device
    ],
)
def test_what_each_close_code_does(code: int, action: Action) -> None:
    assert after_close(code) is action


@given(st.integers(min_value=0, max_value=10_000), st.integers())
def test_full_jitter_stays_in_its_window(attempt: int, seed: int) -> None:
    backoff = Backoff()
    rng = random.Random(seed)
    window = min(backoff.cap_s, backoff.base_s * 2**attempt) if attempt < 64 else backoff.cap_s
    assert 0 <= backoff.delay(attempt, rng) <= window
    limited = backoff.delay(attempt, rng, rate_limited=True)
    assert backoff.rate_limited_s <= limited <= backoff.rate_limited_s + window


def test_full_jitter_spreads_a_fleet_over_the_window() -> None:
    backoff, rng = Backoff(), random.Random(7)
    delays = [backoff.delay(3, rng) for _ in range(1000)]
    assert min(delays) < 0.5 and max(delays) > 3.5  # window 4 s: uniform, not clustered at the top


def _event(seq: int, epoch: str = "e1", topic: str = "kds:1") -> Event:
    return Event(topic, seq, epoch, "ticket.created", {"id": seq}, 0.0)


async def test_a_resume_keeps_the_position_until_replayed_events_arrive() -> None:
    sub = Subscription("kds:1", since=Position(5, "e1"))
    assert sub.frame("c1")["since"] == {"seq": 5, "epoch": "e1"}
    assert sub.subscribed({"type": "subscribed", "topic": "kds:1", "seq": 9, "epoch": "e1", "recovered": True}) is None
    assert sub.position == Position(5, "e1")  # a drop mid-replay resumes from 5, not 9
    assert [sub.accept(_event(s)) for s in (6, 6, 5, 7, 9)] == [
        Accept.DELIVER,
        Accept.DUPLICATE,
        Accept.DUPLICATE,
        Accept.DELIVER,
        Accept.GAP,
    ]
    assert sub.position == Position(7, "e1")
    assert sub.accept(_event(8, epoch="e2")) is Accept.GAP


async def test_a_refused_resume_is_a_resync_from_the_new_position() -> None:
    sub = Subscription("kds:1", since=Position(5, "e1"))
    sub.frame("c1")
    reply = {"type": "subscribed", "topic": "kds:1", "seq": 2, "epoch": "e2", "recovered": False}
    assert sub.subscribed(reply) == Resync("kds:1", Position(2, "e2"))
    assert sub.accept(_event(3, "e2")) is Accept.DELIVER


async def test_a_first_subscription_and_conflated_topics_never_resync() -> None:
    fresh = Subscription("kds:1")
    assert "since" not in fresh.frame("c1")
    assert fresh.subscribed({"topic": "kds:1", "seq": 4, "epoch": "e1", "recovered": False}) is None
    gps = Subscription("gps:fleet", since=Position(5, "e1"))
    assert "since" not in gps.frame("c2")
    assert gps.subscribed({"topic": "gps:fleet", "seq": 40, "epoch": "", "recovered": False}) is None
    assert gps.accept(_event(47, "", "gps:fleet")) is Accept.DELIVER  # conflated: seq may skip
