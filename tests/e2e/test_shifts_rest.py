"""Shift lifecycle over REST, with ownership checks and the contract's 409 codes."""

from __future__ import annotations

import asyncio

from tests.support.server import RunningServer


async def test_check_in_lifecycle_and_config(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        created = await http.post("/api/shifts", json={"truck_id": 1, "location_id": 2})
        assert created.status_code == 201
        shift = created.json()
        assert {k: shift[k] for k in ("truck_id", "location_id", "status", "ended_at")} == {
            "truck_id": 1,
            "location_id": 2,
            "status": "active",
            "ended_at": None,
        }
        assert shift["started_at"].endswith("Z") and set(shift["config"]) >= {"max_orders_per_slot", "slot_minutes"}
        second = await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})
        assert second.status_code == 409 and second.json()["error"]["code"] == "shift_open"
        assert (await http.get("/api/shifts/active", params={"truck_id": 1})).json()["id"] == shift["id"]
        sid = shift["id"]
        assert (await http.post(f"/api/shifts/{sid}/pause")).json()["status"] == "paused"
        bad = await http.post(f"/api/shifts/{sid}/pause")
        assert bad.status_code == 409 and bad.json()["error"]["code"] == "invalid_transition"
        assert (await http.post(f"/api/shifts/{sid}/resume")).json()["status"] == "active"
        patched = await http.patch(f"/api/shifts/{sid}/config", json={"max_orders_per_slot": 7})
        assert patched.json() == {**shift["config"], "max_orders_per_slot": 7}
        assert (await http.get(f"/api/shifts/{sid}/config")).json()["max_orders_per_slot"] == 7
        closed = (await http.post(f"/api/shifts/{sid}/checkout")).json()
        assert closed["status"] == "closed" and closed["ended_at"] is not None
        assert (await http.post(f"/api/shifts/{sid}/resume")).status_code == 409
        assert (await http.get("/api/shifts/active", params={"truck_id": 1})).status_code == 404
        assert (await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).status_code == 201


async def test_staff_of_truck_2_cannot_touch_truck_1(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as chef:
        sid = (await chef.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).json()["id"]
    async with server.client(await server.token("cook2")) as cook2:
        paused = await cook2.post(f"/api/shifts/{sid}/pause")
        assert paused.status_code == 403 and paused.json()["error"]["code"] == "forbidden"
        assert (await cook2.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).status_code == 403
        assert (await cook2.get("/api/shifts/active", params={"truck_id": 1})).status_code == 403
        assert (await cook2.patch(f"/api/shifts/{sid}/config", json={"slot_minutes": 5})).status_code == 403
    async with server.client(await server.token("driver1")) as driver:
        assert (await driver.post(f"/api/shifts/{sid}/pause")).status_code == 403
    async with server.client(await server.token("manager")) as manager:
        assert (await manager.post(f"/api/shifts/{sid}/pause")).status_code == 200


async def test_concurrent_check_ins_one_wins(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        results = await asyncio.gather(
            *(http.post("/api/shifts", json={"truck_id": 2, "location_id": 1}) for _ in range(5))
        )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409, 409]


async def test_concurrent_pauses_emit_one_event(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = (await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).json()["id"]
        results = await asyncio.gather(*(http.post(f"/api/shifts/{sid}/pause") for _ in range(4)))
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]


async def test_bad_shift_inputs(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        assert (await http.post("/api/shifts", json={"truck_id": 99, "location_id": 1})).status_code == 404
        assert (await http.post("/api/shifts", json={"truck_id": "1", "location_id": 1})).status_code == 422
        assert (await http.post("/api/shifts", json={"truck_id": 1})).status_code == 422
        assert (await http.get("/api/shifts/active")).status_code == 400
        assert (await http.post("/api/shifts/12345/pause")).status_code == 404
        sid = (await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).json()["id"]
        bad = await http.patch(f"/api/shifts/{sid}/config", json={"slot_minutes": 0})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "slot_minutes"


async def test_lists(server: RunningServer) -> None:
    async with server.client(await server.token("driver1")) as http:
        trucks = (await http.get("/api/trucks")).json()["items"]
        locations = (await http.get("/api/locations")).json()["items"]
    assert [t["id"] for t in trucks] == [1, 2] and len(locations) == 2
