"""The AsyncAPI 3.0 document of ``/ws``, built from the definitions the hub runs on.

Commands come from the :class:`~hub.protocol.commands.CommandSpec` table the decoder uses, server
frames from the schemas beside their encoders (:data:`hub.protocol.frames.SERVER_FRAMES`), codes
from :mod:`hub.codes`. The core knows no domain: the application describes its topic families
(:class:`TopicDoc`: events and their ``data`` schemas) and adds its own commands and frames.
Nothing here is hand-maintained twice, so the document cannot drift from the code unnoticed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.codes import (
    CLOSE_CODE_EXPLANATIONS,
    ERROR_CODE_EXPLANATIONS,
    ERRORS_THAT_CLOSE,
    RECONNECT_CODES,
)
from hub.protocol.commands import CommandSpec
from hub.protocol.fields import Schema
from hub.protocol.frames import EVENT
from hub.topics import KEY_PATTERN, TOKEN_KEY_PATTERN, TopicFamily

__all__ = ["ASYNCAPI_VERSION", "EventDoc", "TopicDoc", "asyncapi_document", "close_codes", "error_codes"]

ASYNCAPI_VERSION = "3.0.0"
SOCKET = "socket"
"""The one channel every command and reply travels on (address ``/ws``)."""


@dataclass(frozen=True, slots=True)
class EventDoc:
    """One event name of a topic family, and the JSON Schema of its ``data``."""

    name: str
    data: Schema
    description: str = ""


@dataclass(frozen=True, slots=True)
class TopicDoc:
    """A topic family as subscribers see it: the family the hub serves, its key's name, its events."""

    family: TopicFamily
    events: tuple[EventDoc, ...]
    description: str
    key: str | None = None
    """The key's name in the address (``shift_id`` in ``kds:{shift_id}``); None for an unkeyed family."""

    @property
    def address(self) -> str:
        return self.family.name if self.key is None else f"{self.family.name}:{{{self.key}}}"

    @property
    def pattern(self) -> str:
        """A regular expression for this family's topic names (no anchors)."""
        name = re.escape(self.family.name)
        if not self.family.keyed:
            return name
        return f"{name}:{TOKEN_KEY_PATTERN if self.family.token_keys else KEY_PATTERN}"


def error_codes() -> list[dict[str, Any]]:
    """protocol.md §2.5, as data: each error code, when it is sent, the close code that follows it if any."""
    return [
        {"code": code.value, "meaning": why, "closes": ERRORS_THAT_CLOSE.get(code)}
        for code, why in ERROR_CODE_EXPLANATIONS.items()
    ]


def close_codes() -> list[dict[str, Any]]:
    """protocol.md §2.6, as data: each close code the hub sends, what it means, whether to reconnect."""
    return [
        {"code": int(code), "name": code.name.lower(), "meaning": why, "reconnect": code in RECONNECT_CODES}
        for code, why in sorted(CLOSE_CODE_EXPLANATIONS.items())
    ]


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def _message(name: str, title: str, payload: Schema) -> dict[str, Any]:
    summary = payload.get("description", "")
    return {"name": name, "title": title, "summary": summary, "payload": payload}


def _event_payload(doc: EventDoc, patterns: list[str]) -> Schema:
    payload = copy.deepcopy(EVENT)
    props = payload["properties"]
    props["topic"] = {"type": "string", "pattern": "^(" + "|".join(patterns) + ")$"}
    props["event"] = {"const": doc.name}
    props["data"] = doc.data
    payload["description"] = doc.description or payload["description"]
    return payload


def _events(topics: Iterable[TopicDoc]) -> dict[str, tuple[EventDoc, list[str]]]:
    """Event name -> (its doc, the topic patterns it is published on); one name has one data schema."""
    found: dict[str, tuple[EventDoc, list[str]]] = {}
    for topic in topics:
        for event in topic.events:
            seen = found.setdefault(event.name, (event, []))
            if seen[0].data != event.data:
                raise ValueError(f"event {event.name!r} is documented with two data schemas")
            seen[1].append(topic.pattern)
    return found


def asyncapi_document(
    *,
    title: str,
    version: str,
    description: str,
    commands: Iterable[CommandSpec],
    server_frames: Mapping[str, Schema],
    topics: Iterable[TopicDoc],
    schemas: Mapping[str, Schema] | None = None,
    host: str = "localhost:8000",
) -> dict[str, Any]:
    """Build the document.

    Args:
        commands: every command the hub's table decodes (core and application).
        server_frames: every non-event frame the hub sends, by ``type`` (core and application).
        topics: the application's topic families with their events.
        schemas: shared schemas that ``data`` schemas reference as ``#/components/schemas/{name}``.

    Returns:
        A JSON-ready AsyncAPI 3.0 document.

    Raises:
        ValueError: a command's reply names no known frame, or one event has two data schemas.
    """
    topic_docs = list(topics)
    messages: dict[str, Any] = {}
    socket_messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for kind, schema in server_frames.items():
        messages[f"frame.{kind}"] = _message(kind, f"{kind} (server)", schema)
        socket_messages[f"frame.{kind}"] = _ref(f"#/components/messages/frame.{kind}")
    for spec in commands:
        messages[f"command.{spec.name}"] = _message(spec.name, f"{spec.name} (client)", spec.schema)
        socket_messages[f"command.{spec.name}"] = _ref(f"#/components/messages/command.{spec.name}")
        for reply in spec.replies:
            if reply not in server_frames:
                raise ValueError(f"command {spec.name!r} replies with unknown frame {reply!r}")
        operations[spec.name] = {
            "action": "receive",
            "title": spec.name,
            "summary": spec.schema.get("description", ""),
            "channel": _ref(f"#/channels/{SOCKET}"),
            "messages": [_ref(f"#/channels/{SOCKET}/messages/command.{spec.name}")],
            "reply": {
                "channel": _ref(f"#/channels/{SOCKET}"),
                "messages": [_ref(f"#/channels/{SOCKET}/messages/frame.{r}") for r in (*spec.replies, "error")],
            },
        }
    events = _events(topic_docs)
    for name, (doc, patterns) in events.items():
        messages[f"event.{name}"] = _message(name, name, _event_payload(doc, patterns))
    channels: dict[str, Any] = {
        SOCKET: {
            "address": "/ws",
            "title": "The hub's socket",
            "description": "Every command, reply and event travels on this one WebSocket, as JSON text frames.",
            "messages": socket_messages,
        }
    }
    for topic in topic_docs:
        key = re.sub(r"[^\w.-]", "_", topic.family.name)
        channel: dict[str, Any] = {
            "address": topic.address,
            "title": topic.address,
            "description": f"{topic.description} Delivery: {topic.family.delivery}. Events arrive on /ws "
            "after a subscribe command names the topic.",
            "messages": {f"event.{e.name}": _ref(f"#/components/messages/event.{e.name}") for e in topic.events},
            "x-delivery": topic.family.delivery,
        }
        if topic.key is not None:
            channel["parameters"] = {topic.key: {"description": f"the {topic.key} part of the topic name"}}
        channels[key] = channel
        operations[f"{key}.events"] = {
            "action": "send",
            "title": f"events of {topic.address}",
            "channel": _ref(f"#/channels/{key}"),
            "messages": [_ref(f"#/channels/{key}/messages/event.{e.name}") for e in topic.events],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "servers": {"hub": {"host": host, "protocol": "ws", "description": "any hub node; wss behind TLS"}},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(schemas or {})},
        "x-error-codes": error_codes(),
        "x-close-codes": close_codes(),
    }
