"""Trucks with hours and active flags, locations, devices over REST, and who reads which audit rows."""

from __future__ import annotations

import httpx

from tests.support.server import RunningServer, command
from tests.support.timing import wait_until


async def _audit(http: httpx.AsyncClient, **params: str) -> list[dict[str, object]]:
    response = await http.get("/api/audit", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def test_hours_are_validated_and_replace_the_week(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        bad_weeks = [
            [{"weekday": 7, "opens": "09:00", "closes": "12:00"}],
            [{"weekday": 1, "opens": "12:00", "closes": "09:00"}],
            [{"weekday": 1, "opens": "09:00", "closes": "09:00"}],
            [{"weekday": 1, "opens": "9:00", "closes": "12:00"}],
            [{"weekday": 1, "opens": "09:00", "closes": "24:30"}],
            [{"weekday": 2, "opens": "09:00", "closes": "14:00"}, {"weekday": 2, "opens": "13:30", "closes": "18:00"}],
        ]
        for hours in bad_weeks:
            response = await http.put("/api/trucks/1/hours", json={"hours": hours})
            assert response.status_code == 422 and response.json()["error"]["code"] == "bad_request", hours
        assert (await http.get("/api/trucks/1")).json()["hours"] == []  # nothing written
        week = [
            {"weekday": 4, "opens": "17:00", "closes": "24:00"},
            {"weekday": 0, "opens": "11:00", "closes": "14:00"},
            {"weekday": 4, "opens": "11:00", "closes": "14:00"},
        ]
        saved = (await http.put("/api/trucks/1/hours", json={"hours": week})).json()
        assert [(h["weekday"], h["opens"]) for h in saved["hours"]] == [(0, "11:00"), (4, "11:00"), (4, "17:00")]
        replaced = (await http.put("/api/trucks/1/hours", json={"hours": week[:1]})).json()
        assert replaced["hours"] == week[:1]


async def test_a_deactivated_truck_cannot_check_in(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        assert (await http.patch("/api/trucks/2", json={"active": False})).json()["active"] is False
        refused = await http.post("/api/shifts", json={"truck_id": 2, "location_id": 1})
        assert refused.status_code == 409 and "inactive" in refused.text
        assert (await http.get("/api/shifts/active", params={"truck_id": 2})).status_code == 404  # nothing written
        shift = await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})
        busy = await http.patch("/api/trucks/1", json={"active": False})
        assert busy.status_code == 409 and "open shift" in busy.text
        assert (await http.post(f"/api/shifts/{shift.json()['id']}/checkout")).status_code == 200
        assert (await http.patch("/api/trucks/1", json={"active": False})).status_code == 200


async def test_trucks_and_locations_for_each_role(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as chef:
        assert [t["id"] for t in (await chef.get("/api/trucks")).json()["items"]] == [1]
        assert (await chef.get("/api/trucks/2")).status_code == 403
        assert (await chef.post("/api/trucks", json={"name": "Mine"})).status_code == 403
        assert (await chef.post("/api/locations", json={"name": "Here"})).status_code == 403
    async with server.client(await server.token("manager")) as http:
        truck = (await http.post("/api/trucks", json={"name": "  Crepe Van "})).json()
        assert truck["name"] == "Crepe Van" and truck["active"] is True and truck["hours"] == []
        assert (await http.patch(f"/api/trucks/{truck['id']}", json={"name": "Crêpe Van"})).json()[
            "name"
        ] == "Crêpe Van"
        location = (await http.post("/api/locations", json={"name": "Old Town", "lat": 5.35, "lon": -4.0})).json()
        assert (await http.post("/api/locations", json={"name": "Mars", "lat": 91})).status_code == 422
        moved = await http.patch(f"/api/locations/{location['id']}", json={"address": "3 Market St", "active": False})
        assert moved.json()["address"] == "3 Market St"
        refused = await http.post("/api/shifts", json={"truck_id": truck["id"], "location_id": location["id"]})
        assert refused.status_code == 409 and "location" in refused.text
        trail = await _audit(http, target=f"truck:{truck['id']}")
        assert [e["action"] for e in trail] == ["truck.update", "truck.create"]
        assert trail[0]["old"] == {"id": truck["id"], "name": "Crepe Van", "active": True}


async def test_devices_register_heartbeat_and_show_how_they_are_seen(server: RunningServer) -> None:
    token = await server.token("driver1")
    async with server.client(token) as http:
        body = {"device_id": "phone-1", "kind": "driver", "app": "drive/1.0", "push_token": "fcm:abc"}
        created = await http.post("/api/devices", json=body)
        assert created.status_code == 201 and created.json()["push_token_set"] is True
        again = await http.post("/api/devices", json={**body, "app": "drive/1.1"})
        assert again.status_code == 200 and again.json()["app"] == "drive/1.1"
        beat = await http.post("/api/devices/phone-1/heartbeat")
        assert beat.status_code == 200 and beat.json()["online"] is True and beat.json()["seen_via"] == "heartbeat"
        assert (await http.post("/api/devices/nope/heartbeat")).status_code == 404
        assert (await http.post("/api/devices", json={**body, "kind": "toaster"})).status_code == 422
    ws = await server.connect(token, device={"id": "phone-2", "kind": "driver"})
    async with server.client(token) as http:
        items = {d["device_id"]: d for d in (await http.get("/api/devices")).json()["items"]}
        assert items["phone-1"]["seen_via"] == "heartbeat" and items["phone-2"]["seen_via"] == "socket"
        assert (await http.delete("/api/devices/phone-1")).status_code == 204
    await ws.close()


async def test_managers_read_the_fleets_audit_but_not_admin_account_changes(server: RunningServer) -> None:
    async with server.client(await server.token("admin")) as http:
        created = await http.post(
            "/api/users", json={"username": "boss-two", "password": "plenty of lettuce today", "role": "manager"}
        )
        assert created.status_code == 201
        await http.post("/api/trucks", json={"name": "Taco Two"})
        assert {e["action"] for e in await _audit(http)} >= {"user.create", "truck.create"}
        since = await _audit(http, since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00Z", action="truck.")
        assert [e["action"] for e in since] == ["truck.create"]
        assert (await http.get("/api/audit", params={"since": "yesterday"})).status_code == 400
    async with server.client(await server.token("manager")) as http:
        visible = {e["action"] for e in await _audit(http)}
        assert "truck.create" in visible and "user.create" not in visible  # a manager account's creation
    async with server.client(await server.token("chef")) as http:
        assert (await http.get("/api/audit")).status_code == 403


async def test_a_notice_to_a_truck_is_audited(server: RunningServer) -> None:
    ws = await server.as_user("manager")
    note = {"text": "86 the fries", "level": "warn"}
    published = await command(
        ws, {"type": "publish", "id": 1, "topic": "notice:1", "event": "notice.posted", "data": note}
    )
    assert published["type"] == "published"
    async with server.client(await server.token("admin")) as http:

        async def recorded() -> bool:
            return bool(await _audit(http, action="notice.publish"))

        await wait_until(recorded)
        (entry,) = await _audit(http, action="notice.publish")
    assert entry["target"] == "notice:1" and entry["new"] == {
        "event": "notice.posted",
        "data": note,
        "seq": published["seq"],
    }
