"""A connection's frame intake, alone: decoding, the invalid-frame rule, the rate limit and the counts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import orjson
import pytest
from prometheus_client import CollectorRegistry

from hub.codes import CloseCode, ErrorCode
from hub.config import HubConfig
from hub.connection_kit import ConnectionKit
from hub.errors import CloseConnection
from hub.intake import Intake
from hub.metrics import HubMetrics
from hub.protocol.commands import Hello, Ping, core_commands
from hub.protocol.table import CommandTable
from hub.sender import Corker, SendStats
from hub.tasks import TaskSet


class _Rig(NamedTuple):
    intake: Intake
    errors: list[tuple[ErrorCode, str, Any]]
    kit: ConnectionKit
    registry: CollectorRegistry


def _intake(**config: Any) -> _Rig:
    stats, registry = SendStats(), CollectorRegistry()
    kit = ConnectionKit(
        replace(HubConfig(), **config),
        CommandTable(core_commands()),
        Corker(stats),
        stats,
        TaskSet(),
        HubMetrics(registry),
    )
    errors: list[tuple[ErrorCode, str, Any]] = []
    intake = Intake(kit, lambda code, message, command_id: errors.append((code, message, command_id)))
    return _Rig(intake, errors, kit, registry)


def _ping(n: int) -> str:
    return orjson.dumps({"type": "ping", "id": n}).decode()


def test_a_valid_frame_becomes_its_command_and_is_counted() -> None:
    intake, errors, kit, _ = _intake()
    command = intake.accept(_ping(7), True)
    assert isinstance(command, Ping) and command.id == 7
    assert errors == [] and kit.stats.received == {"ping": 1}


def test_the_21st_invalid_frame_in_a_row_closes_4400_and_a_valid_one_resets_the_run() -> None:
    intake, errors, kit, _ = _intake(max_invalid_frames=20)
    for _ in range(20):
        assert intake.accept("{not json", True) is None
    assert intake.accept(_ping(1), True) is not None  # the run starts again
    for _ in range(20):
        assert intake.accept(b"\x00binary", False) is None
    with pytest.raises(CloseConnection) as ended:
        intake.accept("[]", True)
    assert ended.value.close_code is CloseCode.PROTOCOL_VIOLATION
    assert len(errors) == 41 and {code for code, _, _ in errors} == {ErrorCode.BAD_REQUEST}
    assert kit.stats.received == {"invalid": 41, "ping": 1}


def test_over_the_rate_one_error_a_second_then_4429_on_sustained_abuse() -> None:
    intake, errors, kit, registry = _intake(commands_per_s=2.0, abuse_factor=2.0)
    accepted = [intake.accept(_ping(n), True) for n in range(6)]
    assert [c is not None for c in accepted] == [True, True, False, False, False, False]
    assert errors == [(ErrorCode.RATE_LIMITED, "over 2 commands per second", 2)]  # the rest are dropped silently
    dropped = registry.get_sample_value("hub_dropped_frames_total", {"reason": "rate_limit"})
    assert dropped == 4
    with pytest.raises(CloseConnection) as ended:  # more than abuse_factor × rate rejected in a row
        intake.accept(_ping(6), True)
    assert ended.value.close_code is CloseCode.RATE_LIMITED


def test_the_first_frame_must_be_a_json_hello() -> None:
    intake, _, kit, _ = _intake()
    hello = intake.hello(orjson.dumps({"type": "hello", "id": 1, "token": "t"}).decode())
    assert isinstance(hello, Hello) and hello.token == "t"
    for first, command_id in ((b"binary", None), ("{", None), (_ping(5), 5)):
        with pytest.raises(CloseConnection) as refused:
            intake.hello(first)
        assert refused.value.close_code is CloseCode.PROTOCOL_VIOLATION
        assert refused.value.error is ErrorCode.BAD_REQUEST and refused.value.command_id == command_id
    assert kit.stats.received == {"hello": 1, "invalid": 2, "ping": 1}
