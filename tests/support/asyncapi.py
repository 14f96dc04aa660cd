"""Every frame an end-to-end test receives must match the AsyncAPI document (the one ``GET /asyncapi.json`` serves).

One validator per server frame ``type`` and per event name, compiled once per test session.
An event frame is checked against its event's message, which also pins the topic families it
may arrive on and the schema of its ``data``.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from app.asyncapi import document

__all__ = ["check_frame", "validators"]


@functools.cache
def validators() -> dict[str, Draft7Validator]:
    """Message key (``frame.welcome``, ``event.ticket.created``, ...) -> its payload's validator.

    AsyncAPI's schema format is a superset of JSON Schema draft 07; the shared schemas ride along
    under ``components`` so ``#/components/schemas/...`` references resolve as in the document.
    """
    doc = document()
    shared = {"schemas": doc["components"]["schemas"]}
    compiled: dict[str, Draft7Validator] = {}
    for key, message in doc["components"]["messages"].items():
        if key.startswith(("frame.", "event.")):
            schema = {**message["payload"], "components": shared}
            Draft7Validator.check_schema(schema)
            compiled[key] = Draft7Validator(schema)
    return compiled


def check_frame(frame: Any) -> None:
    """Fail the test when ``frame`` (a decoded server frame) is not what the document promises."""
    assert isinstance(frame, dict), f"a server frame must be a JSON object: {frame!r}"
    key = f"event.{frame.get('event')}" if frame.get("type") == "event" else f"frame.{frame.get('type')}"
    validator = validators().get(key)
    assert validator is not None, f"the AsyncAPI document has no message {key!r} for frame {frame!r}"
    error = best_match(validator.iter_errors(frame))
    assert error is None, (
        f"{key} does not match the AsyncAPI document: {error.message} at {list(error.path)}: {frame!r}"
    )
