"""The KDS recall read (``GET /api/shifts/{id}/tickets``) and the served screens with their security headers."""

from __future__ import annotations

import pytest

from tests.support.kitchen import TACO, open_shift, order
from tests.support.server import RunningServer


async def test_recall_lists_the_last_completed_tickets_newest_first(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
        ids = [(await order(http, sid, (TACO, 1))).json()["id"] for _ in range(4)]
        for oid in (ids[2], ids[0], ids[1]):  # bumped in this order; ids[3] stays open
            for to in ("in_progress", "ready", "completed"):
                assert (await http.post(f"/api/orders/{oid}/advance", json={"to": to})).status_code == 200
        recall = await http.get(f"/api/shifts/{sid}/tickets", params={"status": "completed", "limit": 2})
        default = await http.get(f"/api/shifts/{sid}/tickets")
        open_now = await http.get(f"/api/shifts/{sid}/tickets", params={"status": "new"})
        bad_status = await http.get(f"/api/shifts/{sid}/tickets", params={"status": "eaten"})
        bad_limit = await http.get(f"/api/shifts/{sid}/tickets", params={"limit": "0"})
        missing = await http.get("/api/shifts/999999/tickets")
    assert recall.status_code == 200
    items = recall.json()["items"]
    assert [t["id"] for t in items] == [ids[1], ids[0]]
    assert all(t["status"] == "completed" and t["completed_at"] and t["items"] for t in items)
    assert [t["id"] for t in default.json()["items"]] == [ids[1], ids[0], ids[2]]  # default: completed, 20
    assert [t["id"] for t in open_now.json()["items"]] == [ids[3]]
    assert bad_status.status_code == 400 and bad_limit.status_code == 400
    assert missing.status_code == 404


async def test_recall_follows_truck_ownership(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        sid = await open_shift(http)
    async with (
        server.client(await server.token("cook2")) as other,
        server.client(await server.token("manager")) as boss,
    ):
        assert (await other.get(f"/api/shifts/{sid}/tickets")).status_code == 403
        assert (await boss.get(f"/api/shifts/{sid}/tickets")).status_code == 200
    async with server.client() as anonymous:
        assert (await anonymous.get(f"/api/shifts/{sid}/tickets")).status_code == 401


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "text/html"),
        ("/kds", "text/html"),
        ("/dispatch", "text/html"),
        ("/static/js/hub-client.js", "javascript"),
        ("/static/css/screens.css", "text/css"),
    ],
)
async def test_screens_are_served_with_a_same_origin_policy(server: RunningServer, path: str, kind: str) -> None:
    async with server.client() as http:
        response = await http.get(path, headers={"Host": "hub.example:8443"})
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "connect-src 'self' ws://hub.example:8443 wss://hub.example:8443" in policy
    assert "unsafe-inline" not in policy and "http" not in policy.replace("ws://", "").replace("wss://", "")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_strange_host_header_is_not_echoed_into_the_policy(server: RunningServer) -> None:
    async with server.client() as http:
        response = await http.get("/kds", headers={"Host": "evil.example; script-src *"})
    assert "connect-src 'self';" in response.headers["content-security-policy"]
    assert "evil" not in response.headers["content-security-policy"]


async def test_pages_use_no_inline_script_and_no_outside_resource(server: RunningServer) -> None:
    async with server.client() as http:
        for path in ("/", "/kds", "/dispatch"):
            html = (await http.get(path)).text
            assert "<script>" not in html and " style=" not in html and " on" + "click=" not in html
            assert "http://" not in html and "https://" not in html, path
        assert (await http.get("/static/js/nope.js")).status_code == 404
