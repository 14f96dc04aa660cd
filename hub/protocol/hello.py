"""The ``hello`` command (protocol.md §2.1): who the socket is, and the device it runs on.

Its decoder and schema depend on the application's vocabulary (``device.kind``) and on the hello
fields it accepts instead of ``token`` (e.g. a guest's ``order_token``), so they are built per hub.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from hub.protocol.fields import CommandId, Schema, bad, command_schema, string, string_schema

__all__ = ["MAX_TOKEN_CHARS", "Device", "Hello", "hello_decoder", "hello_schema"]

MAX_TOKEN_CHARS = 8192
MAX_DEVICE_FIELD_CHARS = 128

_TOKEN = string_schema(MAX_TOKEN_CHARS)


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: str = "other"
    app: str | None = None


@dataclass(frozen=True, slots=True)
class Hello:
    token: str
    device: Device | None = None
    id: CommandId = None
    credential: str = "token"
    """The hello field that carried ``token``: ``token``, or one of the application's ``hello_credentials``
    (e.g. a guest's ``order_token``, protocol.md §2.1); the authenticator decides what each means."""


def hello_schema(device_kinds: Collection[str], credentials: Collection[str] = ()) -> Schema:
    kind: Schema = {"enum": sorted(device_kinds)} if device_kinds else string_schema(32)
    device = {
        "type": ["object", "null"],
        "properties": {
            "id": string_schema(MAX_DEVICE_FIELD_CHARS),
            "kind": {**kind, "default": "other"},
            "app": string_schema(MAX_DEVICE_FIELD_CHARS, nullable=True),
        },
        "required": ["id"],
    }
    properties: Schema = {"token": {**_TOKEN, "description": "an access token from POST /api/auth/login"}}
    for name in credentials:
        properties[name] = {
            **_TOKEN,
            "description": f"instead of token: the application's {name} (its authenticator decides)",
        }
    properties["device"] = device
    if not credentials:
        return command_schema(
            "hello",
            "The first frame, within HUB_HELLO_TIMEOUT_S: authenticates the socket (protocol.md §2.1).",
            properties,
            ("token",),
        )
    names = ("token", *credentials)
    schema = command_schema(
        "hello",
        "The first frame, within HUB_HELLO_TIMEOUT_S: authenticates the socket (protocol.md §2.1) "
        f"with exactly one of {', '.join(names)}.",
        properties,
    )
    schema["oneOf"] = [{"required": [name]} for name in names]
    return schema


def hello_decoder(
    device_kinds: Collection[str], credentials: Collection[str] = ()
) -> Callable[[dict[str, Any], CommandId, float], Hello]:
    """``device.kind`` is the application's vocabulary (protocol.md §2.1); empty: any short word.

    ``credentials`` are hello fields the application accepts instead of ``token`` (exactly one is given).
    """
    allowed = ", ".join(sorted(device_kinds))
    names = ("token", *credentials)

    def decode(obj: dict[str, Any], cid: CommandId, now: float) -> Hello:
        given = [name for name in names if name in obj]
        if len(given) > 1:
            raise bad(f"hello takes one of {', '.join(names)}, not several", cid)
        credential = given[0] if given else "token"
        token = string(obj, credential, cid, max_chars=MAX_TOKEN_CHARS)
        assert token is not None
        raw = obj.get("device")
        if raw is None:
            return Hello(token=token, id=cid, credential=credential)
        if not isinstance(raw, dict):
            raise bad("'device' must be an object", cid)
        device_id = string(raw, "id", cid, max_chars=MAX_DEVICE_FIELD_CHARS)
        kind = raw.get("kind", "other")
        if not isinstance(kind, str) or (device_kinds and kind not in device_kinds) or not 0 < len(kind) <= 32:
            raise bad(f"'device.kind' must be one of {allowed}" if allowed else "'device.kind' must be a word", cid)
        app = string(raw, "app", cid, max_chars=MAX_DEVICE_FIELD_CHARS, required=False)
        assert device_id is not None
        return Hello(token=token, device=Device(id=device_id, kind=kind, app=app), id=cid, credential=credential)

    return decode
