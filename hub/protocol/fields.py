"""Reading the fields of one decoded JSON command, each failure a ``bad_request`` naming the field.

Pure helpers shared by the core's command decoders and by the application's (a command an
extension adds decodes its fields the same way and fails the same way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hub.codes import ErrorCode
from hub.errors import ProtocolError

__all__ = [
    "ID_SCHEMA",
    "MAX_ID_CHARS",
    "CommandId",
    "Schema",
    "bad",
    "command_id",
    "command_schema",
    "number",
    "string",
    "string_schema",
]

CommandId = str | int | None
MAX_ID_CHARS = 64  # protocol.md §2: "id (string or integer, at most 64 characters)"

Schema = dict[str, Any]
"""A JSON Schema (draft 07, the base of AsyncAPI's schema format) describing one frame or field."""

ID_SCHEMA: Schema = {
    "type": ["string", "integer", "null"],
    "maxLength": MAX_ID_CHARS,
    "description": "Chosen by the client; echoed by the reply. At most 64 characters.",
}


def string_schema(max_chars: int, *, nullable: bool = False) -> Schema:
    """What :func:`string` accepts: a non-empty string of at most ``max_chars`` (or null when optional)."""
    return {"type": ["string", "null"] if nullable else "string", "minLength": 1, "maxLength": max_chars}


def command_schema(
    kind: str, description: str, properties: Schema | None = None, required: tuple[str, ...] = ()
) -> Schema:
    """The JSON Schema of one client command: ``type``, the optional ``id``, then the command's own fields.

    Unknown fields are ignored by the decoders, so the schema allows them too.
    """
    return {
        "type": "object",
        "description": description,
        "properties": {"type": {"const": kind}, "id": ID_SCHEMA, **(properties or {})},
        "required": ["type", *required],
    }


def bad(message: str, cid: CommandId = None) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message, cid)


def command_id(obj: Mapping[str, Any]) -> CommandId:
    raw = obj.get("id")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise bad("'id' must be a string or an integer")
    if len(str(raw)) > MAX_ID_CHARS:
        raise bad(f"'id' must be at most {MAX_ID_CHARS} characters")
    return raw


def string(obj: Mapping[str, Any], key: str, cid: CommandId, *, max_chars: int, required: bool = True) -> str | None:
    """A non-empty string of at most ``max_chars``; None only when absent and not ``required``."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise bad(f"'{key}' must be a non-empty string", cid)
    if len(value) > max_chars:
        raise bad(f"'{key}' must be at most {max_chars} characters", cid)
    return value


def number(obj: Mapping[str, Any], key: str, cid: CommandId, *, required: bool) -> float | None:
    """A finite number (int or float); None only when absent and not ``required``."""
    value = obj.get(key)
    if type(value) is float and math.isfinite(value):  # the common case first (GPS: several per ping)
        return value
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"'{key}' must be a number", cid)
    result = float(value)
    if not math.isfinite(result):  # orjson refuses NaN literals, but huge ints overflow to inf
        raise bad(f"'{key}' must be finite", cid)
    return result
