"""The AsyncAPI document: valid AsyncAPI 3.0 (checked by @asyncapi/parser), and true to the code it is built from.

Locally the parser test skips when node is missing; in CI (``CI=true``) that is a failure.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft7Validator

from app.asyncapi import app_commands, document
from app.gps.command import GPS_SPEC
from app.gps.positions.memory import MemoryPositions
from app.gps.topics import gps_families
from app.hub_plugins import TOPIC_FAMILIES
from hub.asyncapi import asyncapi_document
from hub.codes import CloseCode, ErrorCode
from hub.errors import ProtocolError
from hub.protocol.table import CommandTable
from tests.support.asyncapi import check_frame

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "asyncapi"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed: CI must validate the AsyncAPI document with tools/asyncapi")
        pytest.skip("node not installed: install Node.js 20 to validate the AsyncAPI document with @asyncapi/parser")
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node without npm: cannot install tools/asyncapi"
        subprocess.run([npm, "ci", "--prefix", str(TOOL)], check=True, capture_output=True, timeout=300)
    return node


def test_the_document_is_valid_asyncapi_3(tmp_path: Path) -> None:
    node = _node()
    path = tmp_path / "asyncapi.json"
    path.write_bytes(orjson.dumps(document(), option=orjson.OPT_INDENT_2))
    result = subprocess.run(
        [node, str(TOOL / "validate.mjs"), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert document()["asyncapi"] == "3.0.0"


def test_every_topic_family_the_app_serves_is_documented_with_its_delivery() -> None:
    served = {(f.name, f.delivery) for f in [*TOPIC_FAMILIES, *gps_families(MemoryPositions())]}
    channels = document()["channels"]
    documented = {(ch["address"].split(":{")[0], ch["x-delivery"]) for name, ch in channels.items() if name != "socket"}
    assert documented == served


def test_every_command_of_the_table_is_documented_with_its_replies() -> None:
    doc = document()
    specs = app_commands()
    assert set(doc["operations"]) >= {spec.name for spec in specs}
    for spec in specs:
        assert doc["components"]["messages"][f"command.{spec.name}"]["payload"] == spec.schema
        replies = [m["$ref"].rsplit("/", 1)[1] for m in doc["operations"][spec.name]["reply"]["messages"]]
        assert replies == [*(f"frame.{r}" for r in spec.replies), "frame.error"]


def test_every_event_name_the_services_publish_is_documented() -> None:
    """Event names are string literals in app/services and app/gps: each one must have its message.

    Audit actions look alike (``shift.check_in``): literals inside ``audit.record(...)`` calls are not events.
    """
    event = re.compile(r"^(shift|ticket|stock|notice|gps|order)\.[a-z_]+$")
    found, audited = set(), set()
    for path in [*(ROOT / "app" / "services").rglob("*.py"), *(ROOT / "app" / "gps").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and event.match(node.value):
                found.add(node.value)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "audit.record":
                audited.update(a.value for a in ast.walk(node) if isinstance(a, ast.Constant))
    found -= audited
    documented = {key.removeprefix("event.") for key in document()["components"]["messages"] if key[:6] == "event."}
    assert found, "no event name found: the scan is broken"
    assert found <= documented, found - documented


def test_a_reply_must_be_a_known_frame() -> None:
    spec = replace(GPS_SPEC, replies=("teleported",))
    with pytest.raises(ValueError, match="teleported"):
        asyncapi_document(title="t", version="1", description="", commands=[spec], server_frames={}, topics=[])


def test_codes_are_the_enums() -> None:
    doc = document()
    assert [c["code"] for c in doc["x-error-codes"]] == [c.value for c in ErrorCode]
    assert [c["code"] for c in doc["x-close-codes"]] == sorted(int(c) for c in CloseCode)
    assert doc["components"]["messages"]["frame.error"]["payload"]["properties"]["code"]["enum"] == list(ErrorCode)


NOW = time.time()
# (frame, the decoder accepts it): the command schema must agree with the decoder on each.
COMMANDS: list[tuple[dict[str, Any], bool]] = [
    ({"type": "hello", "token": "t"}, True),
    ({"type": "hello", "token": "t", "id": 1, "device": {"id": "tab-7", "kind": "kds", "app": "kds/2"}}, True),
    ({"type": "hello", "token": "t", "device": None}, True),
    ({"type": "hello", "token": ""}, False),
    ({"type": "hello", "token": "t", "device": {"id": "x", "kind": "toaster"}}, False),
    ({"type": "hello", "token": "t", "device": {"kind": "kds"}}, False),
    ({"type": "hello", "order_token": "abcdefghijklmnopqrstuvwxyz012345"}, True),
    ({"type": "hello", "order_token": "abcdefghijklmnopqrstuvwxyz012345", "device": {"id": "phone"}}, True),
    ({"type": "hello", "token": "t", "order_token": "abcdefghijklmnopqrstuvwxyz012345"}, False),
    ({"type": "hello", "order_token": ""}, False),
    ({"type": "hello"}, False),
    ({"type": "subscribe", "id": "a", "topic": "kds:1"}, True),
    ({"type": "subscribe", "id": "a", "topic": "kds:1", "since": {"seq": 3, "epoch": "e"}}, True),
    ({"type": "subscribe", "id": "a", "topic": "kds:1", "since": {"seq": -1, "epoch": "e"}}, False),
    ({"type": "subscribe", "id": "a", "topic": "kds:1", "since": {"seq": 1.5, "epoch": "e"}}, False),
    ({"type": "subscribe", "id": True, "topic": "kds:1"}, False),
    ({"type": "subscribe", "id": "x" * 65, "topic": "kds:1"}, False),
    ({"type": "subscribe", "topic": "k" * 129}, False),
    ({"type": "unsubscribe", "topic": "kds:1"}, True),
    ({"type": "unsubscribe"}, False),
    ({"type": "publish", "topic": "notice:1", "event": "notice.posted", "data": None}, True),
    ({"type": "publish", "topic": "notice:1", "event": "notice.posted"}, False),
    ({"type": "presence", "id": 3, "topic": "kds:1"}, True),
    ({"type": "refresh", "token": "t"}, True),
    ({"type": "refresh", "token": 5}, False),
    ({"type": "ping", "id": 5}, True),
    ({"type": "gps", "lat": 5.36, "lon": -4.01, "ts": NOW, "accuracy": 8.5, "heading": 270}, True),
    ({"type": "gps", "lat": 91, "lon": 0, "ts": NOW}, False),
    ({"type": "gps", "lat": 5, "lon": 181, "ts": NOW}, False),
    ({"type": "gps", "lat": 5, "lon": 1, "ts": NOW, "speed": -1}, False),
    ({"type": "gps", "lat": 5, "lon": 1}, False),
    ({"type": "gps", "batch": [{"lat": 1, "lon": 2, "ts": NOW}]}, True),
    ({"type": "gps", "batch": []}, False),
    ({"type": "gps", "batch": [{"lat": 1, "lon": 2}]}, False),
]


@pytest.mark.parametrize(("frame", "accepted"), COMMANDS)
def test_command_schemas_agree_with_the_decoders(frame: dict[str, Any], accepted: bool) -> None:
    table = CommandTable(app_commands())
    try:
        table.decode(orjson.dumps(frame), now=NOW)
        decoded = True
    except ProtocolError:
        decoded = False
    schema = document()["components"]["messages"][f"command.{frame['type']}"]["payload"]
    assert decoded is accepted
    assert Draft7Validator(schema).is_valid(frame) is accepted


TICKET = {
    "id": 1,
    "shift_id": 1,
    "number": 1,
    "status": "new",
    "held": False,
    "items": [{"item_id": 1, "name": "Taco", "qty": 2, "modifiers": [], "station": "grill", "unit_price_cents": 350}],
    "total_cents": 700,
    "customer_name": None,
    "note": None,
    "created_at": "2026-01-01T10:00:00.000Z",
    "updated_at": "2026-01-01T10:00:00.000Z",
    "started_at": None,
    "ready_at": None,
    "completed_at": None,
    "cancelled_at": None,
    "cancel_reason": None,
    "source": "staff",
}
WELCOME = {
    "type": "welcome",
    "conn_id": "c1",
    "node": "n1",
    "heartbeat_s": 20,
    "limits": {
        "max_frame_bytes": 65536,
        "max_subscriptions": 50,
        "commands_per_s": 20,
        "gps_per_s": 1,
        "outbound_queue": 512,
        "history_size": 1000,
        "history_ttl_s": 3600,
    },
    "server_time": 1.0,
}
USER = {"id": 1, "username": "ada", "role": "staff", "truck_id": 3}
EVENT = {"type": "event", "topic": "kds:4", "seq": 1, "epoch": "e", "event": "ticket.created", "ts": 1.0}


def test_the_frame_check_accepts_the_contract_and_refuses_drift() -> None:
    check_frame({**EVENT, "data": TICKET})
    check_frame({"type": "error", "id": None, "code": "bad_request", "message": "no"})
    check_frame({"type": "ack", "id": 7})
    token = "abcdefghijklmnopqrstuvwxyz012345"
    order = {"order_token": token, "status": "ready", "number": 4, "eta_s": 0}
    check_frame({**EVENT, "topic": f"order:{token}", "event": "order.ready", "data": order})
    rejected = {**order, "status": "rejected", "number": None, "eta_s": None, "reason": "sold out"}
    check_frame({**EVENT, "topic": f"order:{token}", "event": "order.rejected", "data": rejected})
    check_frame({**WELCOME, "user": None, "guest": {"order_token": token}})
    check_frame({**WELCOME, "user": USER})
    refused = [
        {**EVENT, "data": {**TICKET, "surprise": 1}},  # an undocumented field
        {**EVENT, "data": {**TICKET, "status": "lost"}},
        {**EVENT, "topic": "stock:4", "data": TICKET},  # a ticket event on the wrong family
        {**EVENT, "event": "ticket.teleported", "data": TICKET},
        {"type": "error", "id": None, "code": "oops", "message": "no"},
        {"type": "subscribed", "id": 1, "topic": "kds:1", "seq": 0, "epoch": "e", "recovered": False},
        {"type": "nonsense"},
        {**EVENT, "topic": "order:42", "event": "order.ready", "data": {"order_token": "x", "status": "ready"}},
        {**EVENT, "topic": "order:short", "event": "order.ready", "data": order},  # not a token key
        {**EVENT, "topic": "kds:4", "event": "order.ready", "data": order},  # an order event on the wrong family
        {**WELCOME, "user": None, "guest": {"order_token": token, "extra": 1}},
        {**WELCOME, "user": None, "surprise": 1},
    ]
    for frame in refused:
        with pytest.raises(AssertionError):
            check_frame(frame)
