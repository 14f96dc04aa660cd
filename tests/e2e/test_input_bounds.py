"""No input reaches the database unchecked: ids beyond the id columns and malformed bodies get 4xx, never 500."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.routing import Route

from app.models.common import MAX_ID
from app.routes import all_routes
from tests.support.kitchen import open_shift, order
from tests.support.server import RunningServer, command

HUGE = MAX_ID + 1  # one more than an id column can hold (Postgres integer)
BODY_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/shifts", {"truck_id": HUGE, "location_id": 1}),
    ("POST", "/api/shifts", {"truck_id": 1, "location_id": HUGE}),
    ("POST", "/api/menu/categories", {"name": "x", "truck_id": HUGE}),
    ("POST", "/api/menu/items", {"category_id": HUGE, "name": "x", "price_cents": 1, "station": "grill"}),
    ("PATCH", "/api/menu/items/1", {"category_id": HUGE}),
    ("PATCH", "/api/shifts/{shift}/inventory", {"items": [{"item_id": HUGE, "stock": 1}]}),
    ("POST", "/api/shifts/{shift}/orders", {"items": [{"item_id": HUGE, "qty": 1}]}),
]


def _routes_with_ids() -> list[tuple[str, str]]:
    """Every (method, path) whose path carries an integer id: new routes are covered without editing this file."""
    found = []
    for route in all_routes():
        if isinstance(route, Route) and ":int}" in route.path:
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def _envelope(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] in ("not_found", "bad_request")


@pytest.mark.parametrize(("method", "path"), _routes_with_ids())
async def test_a_huge_path_id_is_a_clear_4xx(server: RunningServer, method: str, path: str) -> None:
    async with server.client(await server.token("admin")) as http:
        url = path.split("{")[0] + str(HUGE) + path.split("}", 1)[1]
        response = await http.request(method, url, json={})
        _envelope(response)
        assert (await http.get("/healthz")).status_code == 200  # and the connection is still good


@pytest.mark.parametrize(("method", "path", "body"), BODY_FIELDS)
async def test_a_huge_body_id_is_a_clear_4xx(server: RunningServer, method: str, path: str, body: Any) -> None:
    async with server.client(await server.token("admin")) as http:
        shift_id = await open_shift(http)
        response = await http.request(method, path.format(shift=shift_id), json=body)
    _envelope(response)
    assert response.status_code == 422 and "less than or equal" in response.text


async def test_a_huge_query_id_is_a_clear_4xx(server: RunningServer) -> None:
    async with server.client(await server.token("admin")) as http:
        for raw in (str(HUGE), "-1", "0", "²", "1e3"):
            _envelope(await http.get("/api/shifts/active", params={"truck_id": raw}))


async def test_a_malformed_body_on_hold_holds_nothing(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        shift_id = await open_shift(http)
        ticket = (await order(http, shift_id, (1, 1))).json()
        for body in (b"{nope", b"[1]", b'{"held": true}'):
            response = await http.post(f"/api/orders/{ticket['id']}/hold", content=body)
            assert response.status_code in (400, 422), response.text
        assert (await http.get(f"/api/orders/{ticket['id']}")).json()["held"] is False
        assert (await http.post(f"/api/orders/{ticket['id']}/hold", content=b"{}")).json()["held"] is True
        assert (await http.post(f"/api/orders/{ticket['id']}/resume")).json()["held"] is False  # no body at all


async def test_a_cursor_beyond_the_id_range_is_a_clear_4xx(server: RunningServer) -> None:
    """A keyset cursor is compared with an id column: one past 32 bits would be a database error on Postgres."""
    cursor = base64.urlsafe_b64encode(f"k:{HUGE}".encode()).decode().rstrip("=")
    async with server.client(await server.token("admin")) as http:
        for path in ("/api/trucks", "/api/users", "/api/audit", "/api/devices", "/api/locations"):
            _envelope(await http.get(path, params={"cursor": cursor}))


NUL_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/auth/login", {"username": "a\u0000", "password": "x"}),
    ("POST", "/api/trucks", {"name": "a\u0000b"}),
    ("POST", "/api/menu/categories", {"name": "\u0000"}),
    ("PATCH", "/api/me", {"display_name": "x\u0000"}),
    ("POST", "/api/devices", {"device_id": "tablet\u0000", "kind": "kds"}),
    ("POST", "/api/shifts/{shift}/orders", {"items": [{"item_id": 1, "qty": 1, "modifiers": ["no\u0000onions"]}]}),
]


@pytest.mark.parametrize(("method", "path", "body"), NUL_BODIES)
async def test_a_nul_in_a_body_is_a_422(server: RunningServer, method: str, path: str, body: Any) -> None:
    """Found by the schemathesis probe on Postgres, whose text cannot hold NUL: these were 500s there."""
    async with server.client(await server.token("admin")) as http:
        shift_id = await open_shift(http)
        response = await http.request(method, path.format(shift=shift_id), json=body)
    _envelope(response)
    assert response.status_code == 422 and "NUL" in response.json()["error"]["details"][0]["problem"]


async def test_a_nul_in_a_path_or_query_is_a_400(server: RunningServer) -> None:
    async with server.client(await server.token("admin")) as http:
        for method, url in [
            ("GET", "/api/audit?action=user%00"),
            ("GET", "/api/audit?target=a%00b"),
            ("POST", "/api/devices/tab%00let/heartbeat"),
            ("DELETE", "/api/devices/tab%00let"),
        ]:
            response = await http.request(method, url)
            assert response.status_code == 400 and "NUL" in response.json()["error"]["message"], url


async def test_a_time_with_no_utc_equivalent_is_a_clear_4xx(server: RunningServer) -> None:
    """``0001-01-01T00:00+14:00`` is before year 1 in UTC: converting it overflowed into a 500."""
    async with server.client(await server.token("admin")) as http:
        shift_id = await open_shift(http)
        for field, value in (
            ("available_from", "0001-01-01T00:00:00+14:00"),
            ("available_until", "9999-12-31T23:59:59-14:00"),
        ):
            special = {"name": "Late special", "price_cents": 500, field: value}
            response = await http.post(f"/api/shifts/{shift_id}/specials", json=special)
            assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == field
        for name, value in (("since", "0001-01-01T00:00:00+14:00"), ("until", "9999-12-31T23:59:59-14:00")):
            _envelope(await http.get("/api/audit", params={name: value}))


@pytest.mark.parametrize(
    "topic", [f"kds:{HUGE}", f"shift:{HUGE}", f"stock:{HUGE}", f"notice:{HUGE}", "kds:99999999999"]
)
async def test_a_topic_key_beyond_the_id_columns_is_not_found(server: RunningServer, topic: str) -> None:
    ws = await server.as_user("manager")
    reply = await command(ws, {"type": "subscribe", "id": 1, "topic": topic})
    assert reply["type"] == "error" and reply["code"] == "not_found", reply
    assert (await command(ws, {"type": "ping", "id": 2}))["type"] == "pong"  # the socket is fine
