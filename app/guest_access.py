"""A guest's socket (protocol.md §2.1, §2.4): hello with an ``order_token``, and who may follow ``order:{token}``.

The hub core knows nothing of orders: it hands the app's authenticator the credential the hello
carried (``order_token``), and asks the app's authorizer about ``order:`` topics like any other.
The guest principal is not a user: ``public`` is None (``"user": null`` in ``welcome``), its
``user_id`` is the negated guest order id (never a real user's, and the per-user socket cap
becomes a per-order cap), and its only claim is the order token.
"""

from __future__ import annotations

import time

from sqlmodel import select

from app.db import Database
from app.models import GuestOrder, Shift
from app.models.guest import GUEST_CREDENTIAL, GuestWelcome
from hub.auth import Principal
from hub.codes import ErrorCode
from hub.errors import HubError
from hub.topics import Topic

__all__ = ["GUEST_CREDENTIAL", "GUEST_ROLE", "GuestAccess"]

GUEST_ROLE = "guest"
_SESSION_S = 24 * 3600  # a guest's socket is closed 4401 after a day: the order is long collected by then
_EVERYTHING = frozenset({"admin", "manager"})


class GuestAccess:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _find(self, token: str) -> tuple[GuestOrder, Shift] | None:
        async with self._db.session() as session:
            guest = (await session.exec(select(GuestOrder).where(GuestOrder.token == token))).first()
            shift = await session.get(Shift, guest.shift_id) if guest is not None else None
        return (guest, shift) if guest is not None and shift is not None else None

    async def principal(self, token: str) -> Principal:
        """The guest holding ``token``.

        Raises:
            HubError: ``unauthorized`` for a token of no order (the hub closes 4401).
        """
        found = await self._find(token)
        if found is None:
            raise HubError(ErrorCode.UNAUTHORIZED, "unknown order token")
        guest, _ = found
        assert guest.id is not None
        return Principal(
            user_id=-guest.id,
            session_id=f"guest:{guest.id}",
            expires_at=time.time() + _SESSION_S,
            public=None,
            claims={"role": GUEST_ROLE, "order_token": guest.token},
            welcome={"guest": GuestWelcome(order_token=guest.token)},
        )

    async def authorize(self, principal: Principal, topic: Topic) -> None:
        """``order:{token}``: the guest holding it, admins, managers, staff of the order's truck."""
        role = principal.claims.get("role")
        if role == GUEST_ROLE and principal.claims.get("order_token") == topic.token:
            return
        if role in _EVERYTHING or role == "staff":
            found = await self._find(topic.token or "")
            if found is None:
                raise HubError(ErrorCode.NOT_FOUND, "no such order")
            if role in _EVERYTHING or principal.claims.get("truck_id") == found[1].truck_id:
                return
        raise HubError(ErrorCode.FORBIDDEN, f"not allowed to subscribe to {topic.name}")
