"""The application's half of the AsyncAPI document of ``/ws``: its topic families, events and shapes.

The hub builds the document (:func:`hub.asyncapi.asyncapi_document`) from its command table and
frame encoders; this module hands it what only the application knows: the ``gps`` command and its
``ack``, the topic families with each event's ``data`` schema (derived by pydantic from the
TypedDicts the publishing code is typed against), and the user carried by ``welcome``.
Served at ``GET /asyncapi.json``; validated in CI (tests/unit/test_asyncapi.py).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import TypeAdapter

from app.gps.command import ACK_FRAME, GPS_SPEC
from app.gps.positions.base import PositionPublic
from app.gps.topics import DRIVER_FAMILY, EVENT, FLEET_FAMILY
from app.hub_plugins import TOPIC_FAMILIES
from app.models.device import DEVICE_KINDS
from app.models.guest import GUEST_CREDENTIAL, GuestWelcome, OrderStatusEvent
from app.models.menu import StockAlert
from app.models.order import TicketPublic
from app.models.shift import ShiftPublic
from app.security import UserPublic
from hub.asyncapi import EventDoc, TopicDoc, asyncapi_document
from hub.protocol.commands import CommandSpec, core_commands
from hub.protocol.fields import Schema
from hub.protocol.frames import SERVER_FRAMES
from hub.topics import TopicFamily

__all__ = ["API_VERSION", "app_commands", "document"]

API_VERSION = "1.1.0"
_REF = "#/components/schemas/{model}"
_DESCRIPTION = """\
The FusionX hub's WebSocket protocol. Connect to `/ws`, send `hello` with an access token (or, on a guest's
phone, the `order_token` of a guest order) within `HUB_HELLO_TIMEOUT_S`, get `welcome`; then `subscribe` to
topics and receive their events. Every frame
is a JSON text frame with a `type`. Replies echo the command's `id`. Error codes are in `x-error-codes`,
close codes in `x-close-codes`. People's guide: docs/protocol.md."""


def _schemas(*types: type) -> dict[str, Schema]:
    """Each type's JSON Schema (serialization side: what the hub sends), nested definitions hoisted."""
    found: dict[str, Schema] = {}
    for kind in types:
        schema = TypeAdapter(kind).json_schema(ref_template=_REF, mode="serialization")
        found.update(schema.pop("$defs", {}))
        found[kind.__name__] = schema
    return found


def _family(name: str) -> TopicFamily:
    (family,) = (f for f in TOPIC_FAMILIES if f.name == name)
    return family


_SAYS = {
    "shift.checked_in": "a truck opened a shift",
    "shift.paused": "the shift stopped taking orders",
    "shift.resumed": "the shift takes orders again",
    "shift.checked_out": "the shift is closed",
    "shift.config_updated": "throttle or screen settings changed",
    "ticket.created": "a new ticket (an order placed, or a paid guest order)",
    "ticket.advanced": "a ticket moved on: in_progress, ready or completed",
    "ticket.held": "work on a ticket stopped",
    "ticket.resumed": "a held ticket is worked on again",
    "ticket.cancelled": "a ticket was cancelled (its stock went back)",
    "stock.low": "an item fell to or below its threshold",
    "stock.sold_out": "an item ran out, or was flagged sold out",
    "stock.restocked": "an item left sold out or low",
    "order.paid": "the payment is confirmed and the ticket is queued",
    "order.in_progress": "the kitchen started the order",
    "order.ready": "the order is ready for pickup",
    "order.completed": "the order was picked up",
    "order.cancelled": "the ticket was cancelled",
    "order.rejected": "the payment came too late (stock gone, shift closed): refunded, reason says why",
}


def _events(names: str, data: Schema, what: str = "the whole current object") -> tuple[EventDoc, ...]:
    return tuple(EventDoc(name, data, f"{name}: {_SAYS[name]}; data is {what}.") for name in names.split())


def _topics() -> list[TopicDoc]:
    """protocol.md §2.4: every family the application serves, with its events."""
    shift, ticket = {"$ref": "#/components/schemas/ShiftPublic"}, {"$ref": "#/components/schemas/TicketPublic"}
    stock, position = {"$ref": "#/components/schemas/StockAlert"}, {"$ref": "#/components/schemas/PositionPublic"}
    order = {"$ref": "#/components/schemas/OrderStatusEvent"}
    who = "Subscribers: admin, manager, staff of that truck."
    return [
        TopicDoc(
            _family("shift"),
            _events("shift.checked_in shift.paused shift.resumed shift.checked_out shift.config_updated", shift),
            f"A shift's lifecycle; data is the whole shift. {who}",
            key="shift_id",
        ),
        TopicDoc(
            _family("kds"),
            _events("ticket.created ticket.advanced ticket.held ticket.resumed ticket.cancelled", ticket),
            f"A shift's kitchen tickets; data is the whole ticket. {who}",
            key="shift_id",
        ),
        TopicDoc(
            _family("stock"),
            _events("stock.low stock.sold_out stock.restocked", stock),
            f"Stock alerts of a shift, once per crossing. {who}",
            key="shift_id",
        ),
        TopicDoc(
            _family("notice"),
            (
                EventDoc(
                    "notice.posted", {"description": "any JSON value"}, "notice.posted: whatever the publisher sent."
                ),
            ),
            f"Messages from admins and managers (the publish command) to a truck's devices. {who}",
            key="truck_id",
        ),
        TopicDoc(
            _family("order"),
            _events(
                "order.paid order.in_progress order.ready order.completed order.cancelled order.rejected",
                order,
                "the guest order's status, ticket number and ETA",
            ),
            "A guest's order ahead, keyed by its order_token (16-64 of A-Z a-z 0-9 _ -), not an id. "
            "Subscribers: the guest socket that said hello with that order_token, admin, manager, staff of the "
            "order's truck.",
            key="order_token",
        ),
        TopicDoc(
            DRIVER_FAMILY,
            (EventDoc(EVENT, position, "gps.position: a driver's newest position (conflated by driver)."),),
            "One driver's positions. Subscribers: admin, manager, that driver.",
            key="driver_id",
        ),
        TopicDoc(
            FLEET_FAMILY,
            (EventDoc(EVENT, position, "gps.position: a driver's newest position (conflated by driver)."),),
            "Every driver's positions. Subscribers: admin, manager.",
        ),
    ]


@functools.cache
def _document() -> dict[str, Any]:
    frames = {**SERVER_FRAMES, "ack": ACK_FRAME}
    welcome = frames["welcome"] = copy.deepcopy(frames["welcome"])
    welcome["properties"]["user"] = {
        "oneOf": [{"$ref": "#/components/schemas/UserPublic"}, {"type": "null"}],
        "description": "the authenticated user; null on a guest socket (hello with order_token)",
    }
    welcome["properties"]["guest"] = {
        "$ref": "#/components/schemas/GuestWelcome",
        "description": "guest sockets only: the order this socket may follow (order:{order_token})",
    }
    return asyncapi_document(
        title="FusionX hub",
        version=API_VERSION,
        description=_DESCRIPTION,
        commands=app_commands(),
        server_frames=frames,
        topics=_topics(),
        schemas=_schemas(
            UserPublic, ShiftPublic, TicketPublic, StockAlert, PositionPublic, OrderStatusEvent, GuestWelcome
        ),
    )


def app_commands() -> list[CommandSpec]:
    """The command table this application's hub decodes: the core's (hello takes ``order_token`` too) and ``gps``."""
    return [*core_commands(DEVICE_KINDS, (GUEST_CREDENTIAL,)), GPS_SPEC]


def document(host: str = "localhost:8000") -> dict[str, Any]:
    """The document, with ``host`` as its server (e.g. the Host the request came to). Built once per process."""
    doc = dict(_document())
    doc["servers"] = {"hub": {**doc["servers"]["hub"], "host": host}}
    return doc
