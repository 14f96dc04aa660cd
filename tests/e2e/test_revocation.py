"""Authority taken away takes effect at once: REST refuses the tokens and the sockets close 4401."""

from __future__ import annotations

import time

from sqlalchemy import text

from app.db import Database
from tests.support.kitchen import open_shift, subscribe
from tests.support.server import RunningServer, closed_with
from tests.support.timing import MS, wait_until


async def test_a_reused_refresh_token_closes_the_sessions_sockets(server: RunningServer) -> None:
    """A stolen refresh token used twice ends the session: its tablet stops receiving tickets at once."""
    first = await server.login("chef")
    async with server.client(first["access_token"]) as http:
        shift_id = await open_shift(http)
    tablet = await server.connect(first["access_token"])
    await subscribe(tablet, f"kds:{shift_id}")
    other = await server.as_user("chef")  # another login of the same user is not the stolen session
    async with server.client() as http:
        assert (await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).status_code == 200
        started = time.monotonic()
        reuse = await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    code, frames = await closed_with(tablet, 1000 * MS)
    assert code == 4401 and frames[-1]["code"] == "unauthorized"
    assert time.monotonic() - started < 1.0
    assert other.close_code is None


async def test_a_session_revoked_by_another_process_closes_its_sockets(server: RunningServer) -> None:
    """Revoked in the database by someone else (the command line, a node that could not broadcast): the watch
    that every node runs closes the socket within its interval."""
    body = await server.login("cook2")
    tablet = await server.connect(body["access_token"])
    db = Database(server.settings.database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE auth_sessions SET revoked_at = CURRENT_TIMESTAMP WHERE user_id = 4 AND revoked_at IS NULL")
            )
    finally:
        await db.close()
    code, frames = await closed_with(tablet, 3000 * MS)
    assert code == 4401 and frames[-1]["code"] == "unauthorized"
    async with server.client(body["access_token"]) as http:
        assert (await http.get("/api/me")).status_code == 401


async def test_a_revoked_session_cannot_open_a_socket_again(server: RunningServer) -> None:
    """Hello trusts sessions it confirmed in the last minute (no database round trip in a reconnect storm):
    a logout, and a revocation by someone else, must end that trust at once (the latter within the watch)."""
    mine = await server.login("chef")
    await (await server.connect(mine["access_token"])).close()  # this node has now confirmed the session
    async with server.client(mine["access_token"]) as http:
        assert (await http.post("/api/auth/logout")).status_code in (200, 204)
    refused = await server.connect_raw(mine["access_token"])
    code, frames = await closed_with(refused, 2000 * MS)
    assert code == 4401 and [f["type"] for f in frames] == ["error"], frames  # never welcomed, not even briefly

    theirs = await server.login("cook2")
    await (await server.connect(theirs["access_token"])).close()
    db = Database(server.settings.database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE auth_sessions SET revoked_at = CURRENT_TIMESTAMP WHERE user_id = 4 AND revoked_at IS NULL")
            )
    finally:
        await db.close()

    async def refused_again() -> bool:
        ws = await server.connect_raw(theirs["access_token"])
        code, frames = await closed_with(ws, 2000 * MS)
        return code == 4401 and [f["type"] for f in frames] == ["error"]

    await wait_until(refused_again, timeout=3000 * MS)
