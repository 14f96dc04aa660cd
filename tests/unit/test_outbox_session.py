"""Outbox bounds and conflation; session state machine; rate limiter; topic parsing; settings."""

from __future__ import annotations

import pytest

from app.settings import Settings, SettingsError
from hub.codes import CloseCode, ErrorCode
from hub.errors import CloseConnection, ProtocolError, cap_reason
from hub.outbox import Outbox, Overflow
from hub.protocol.session import AWAITING_HELLO, CLOSED, OPEN, RateDecision, RateLimiter, Session
from hub.topics import TopicFamily, TopicRegistry


def test_outbox_overflows_at_its_limit_and_keeps_order() -> None:
    box = Outbox(3)
    assert [box.offer(bytes([i])) for i in range(3)] == [None, None, None]
    assert box.offer(b"x") == Overflow(3)
    frames, _ = box.take()
    assert frames == [b"\x00", b"\x01", b"\x02"] and len(box) == 0


def test_outbox_conflation_keeps_newest_per_key_in_first_position() -> None:
    box = Outbox(10)
    box.offer(b"r1")
    assert box.offer_conflated("d1", b"d1-a") is False
    box.offer_conflated("d2", b"d2-a")
    assert box.offer_conflated("d1", b"d1-b") is True  # replaced, counted as a drop by the caller
    box.offer(b"r2")
    frames, _ = box.take()
    assert frames == [b"r1", b"d1-b", b"d2-a", b"r2"]


def test_outbox_backlog_bounded_by_keys() -> None:
    box = Outbox(1000)
    for i in range(10_000):
        box.offer_conflated(f"driver-{i % 50}", str(i).encode())
    assert len(box) == 50


def test_outbox_stamp_is_oldest_event() -> None:
    box = Outbox(5)
    box.offer(b"reply")
    box.offer(b"e1", published_at=10.0)
    box.offer(b"e2", published_at=11.0)
    assert box.take()[1] == 10.0 and box.take()[1] is None


def test_session_transitions() -> None:
    session = Session()
    assert session.state is AWAITING_HELLO
    session.transition(OPEN)
    with pytest.raises(RuntimeError):
        session.transition(AWAITING_HELLO)
    session.transition(CLOSED)


def test_invalid_frames_close_after_twenty_in_a_row() -> None:
    session = Session(max_invalid_frames=20)
    for _ in range(20):
        session.invalid_frame()
    session.valid_frame()
    for _ in range(20):
        session.invalid_frame()
    with pytest.raises(CloseConnection) as info:
        session.invalid_frame()
    assert info.value.close_code is CloseCode.PROTOCOL_VIOLATION


def test_rate_limiter_bucket_error_once_per_second_and_abuse() -> None:
    limiter = RateLimiter(rate=5, abuse_factor=4)
    decisions = [limiter.check(0.0) for _ in range(7)]
    assert decisions == [RateDecision.ALLOW] * 5 + [RateDecision.REJECT, RateDecision.REJECT_SILENTLY]
    assert limiter.check(1.0) is RateDecision.ALLOW  # refilled
    with pytest.raises(CloseConnection) as info:
        for i in range(100):
            limiter.check(1.0 + i * 0.01)
    assert info.value.close_code is CloseCode.RATE_LIMITED


def test_rate_limiter_forgives_after_a_quiet_second() -> None:
    limiter = RateLimiter(rate=2, abuse_factor=4)
    for second in range(10):  # 4 commands a second: 2 over the limit each second, never 8 in a run
        for j in range(4):
            limiter.check(second * 1.5 + j * 0.01)


def test_topic_registry() -> None:
    registry = TopicRegistry(
        [
            TopicFamily("kds", "reliable"),
            TopicFamily("gps:fleet", "conflated", keyed=False),
            TopicFamily("gps:driver", "conflated"),
        ]
    )
    assert registry.parse("kds:42").key == 42 and registry.parse("kds:42").reliable
    assert registry.parse("gps:fleet").key is None
    assert registry.parse("gps:driver:7").family.name == "gps:driver"
    for bad in ("kds", "kds:", "kds:abc", "kds:-1", "kds:01", "pizza:1", "gps:fleet:1"):
        with pytest.raises(ProtocolError) as info:
            registry.parse(bad, 5)
        assert info.value.code is ErrorCode.NOT_FOUND and info.value.command_id == 5
    assert registry.family_of("kds:1") == "kds" and registry.family_of("zzz") == "other"


def test_close_reason_is_capped_on_a_utf8_boundary() -> None:
    reason = cap_reason("é" * 100)
    assert len(reason.encode()) <= 123 and reason == "é" * 61


def test_settings_from_env_and_production_guard() -> None:
    settings = Settings.from_env({"HUB_HEARTBEAT_S": "5", "PORT": "9000", "HUB_BROKER_URL": ""})
    assert settings.heartbeat_s == 5.0 and settings.port == 9000 and settings.hub_config().heartbeat_s == 5.0
    with pytest.raises(SettingsError, match="HUB_SECRET_KEY"):
        Settings.from_env({"HUB_ENV": "production"})
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"HUB_ENV": "production", "HUB_SECRET_KEY": "short"})
    with pytest.raises(SettingsError, match="HUB_MAX_FRAME_BYTES"):
        Settings.from_env({"HUB_MAX_FRAME_BYTES": "lots"})
    with pytest.raises(SettingsError, match="HUB_LISTEN_BACKLOG=0 must be at least 1"):
        Settings.from_env({"HUB_LISTEN_BACKLOG": "0"})
    assert Settings.from_env({"HUB_ENV": "production", "HUB_SECRET_KEY": "k" * 40}).production


def test_outbound_queue_must_stay_below_history_size() -> None:
    """A 4500 drops at most the outbox: with a queue as long as history the tablet could never resume."""
    assert Settings().outbound_queue < Settings().history_size
    with pytest.raises(SettingsError, match="HUB_OUTBOUND_QUEUE=1024 must be smaller than HUB_HISTORY_SIZE=1000"):
        Settings.from_env({"HUB_OUTBOUND_QUEUE": "1024"})
    with pytest.raises(SettingsError, match="HUB_OUTBOUND_QUEUE=200 must be smaller than HUB_HISTORY_SIZE=200"):
        Settings.from_env({"HUB_OUTBOUND_QUEUE": "200", "HUB_HISTORY_SIZE": "200"})
    assert Settings.from_env({"HUB_OUTBOUND_QUEUE": "1024", "HUB_HISTORY_SIZE": "5000"}).outbound_queue == 1024


def test_several_workers_need_the_redis_broker_and_get_a_node_id_each() -> None:
    with pytest.raises(SettingsError, match="WORKERS=4 needs HUB_BROKER_URL"):
        Settings.from_env({"WORKERS": "4"})
    workers = Settings.from_env({"WORKERS": "4", "HUB_BROKER_URL": "redis://r:6379/0", "HUB_NODE_ID": "web1"})
    assert workers.node.startswith("web1-") and workers.node != "web1"  # each worker process: its own pid
    assert Settings.from_env({"HUB_NODE_ID": "web1"}).node == "web1"


def test_env_example_lists_every_setting_with_its_default() -> None:
    from dataclasses import fields
    from pathlib import Path

    from app.settings import _ENV_NAMES

    path = Path(__file__).resolve().parents[2] / ".env.example"
    listed = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    )
    defaults = Settings()
    for f in fields(Settings):
        name = _ENV_NAMES.get(f.name, f"HUB_{f.name.upper()}")
        assert name in listed, name
        if listed[name]:
            assert type(getattr(defaults, f.name))(listed[name]) == getattr(defaults, f.name), name


def test_observe_many_matches_observe_one_by_one() -> None:
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from hub.metrics import observe_many

    samples = [0.0, 0.0004, 0.0005, 0.003, 0.07, 3.0, 0.02, 0.02]
    bounds = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
    one, bulk = CollectorRegistry(), CollectorRegistry()
    for registry, fold in ((one, False), (bulk, True)):
        histogram = Histogram("h", "h", buckets=bounds, registry=registry)
        if fold:
            observe_many(histogram, samples)
        else:
            for sample in samples:
                histogram.observe(sample)
    strip = lambda text: [line for line in text.decode().splitlines() if "_created" not in line]  # noqa: E731
    assert strip(generate_latest(bulk)) == strip(generate_latest(one))
