"""docs/protocol.md and the AsyncAPI document list the same commands, frames, topics, events and codes.

The tables of docs/protocol.md are read as data: the first backquoted word of a row's first cell
names the command, frame, topic or code; a topic row's events are the backquoted names in its second cell.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.asyncapi import document

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_TICKED = re.compile(r"`([^`]+)`")


def _table(heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading`` (header and separator rows left out)."""
    lines = DOC.read_text().splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under {heading!r}"
    return rows[2:]


def _first_ticked(rows: list[list[str]]) -> list[str]:
    return [m.group(1) for row in rows if (m := _TICKED.search(row[0]))]


def _messages(prefix: str) -> set[str]:
    return {key.removeprefix(prefix) for key in document()["components"]["messages"] if key.startswith(prefix)}


def test_commands() -> None:
    assert set(_first_ticked(_table("### 2.2 Client commands"))) == _messages("command.")


def test_server_frames() -> None:
    assert set(_first_ticked(_table("### 2.3 Server frames"))) == _messages("frame.")


def test_topics_and_their_events() -> None:
    listed = {}
    for row in _table("### 2.4 Topics"):
        events = {name for name in _TICKED.findall(row[1]) if re.fullmatch(r"[a-z]+\.[a-z_]+", name)}
        listed[_TICKED.findall(row[0])[0]] = events
    channels = document()["channels"]
    documented = {
        ch["address"]: {ref.removeprefix("event.") for ref in ch["messages"]}
        for key, ch in channels.items()
        if key != "socket"
    }
    assert listed == documented
    assert set().union(*listed.values()) == _messages("event.")


def test_error_codes() -> None:
    assert _first_ticked(_table("### 2.5 Errors")) == [c["code"] for c in document()["x-error-codes"]]


def test_close_codes() -> None:
    listed = [int(row[0]) for row in _table("### 2.6 Close codes")]
    assert listed == [c["code"] for c in document()["x-close-codes"]]
