"""The operator's user routes: who may manage whom, changes that revoke at once, the audit, paging."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer, closed_with
from tests.support.timing import MS

GOOD = "plenty of lettuce today"


async def _create(http: httpx.AsyncClient, username: str, role: str, **extra: Any) -> httpx.Response:
    return await http.post("/api/users", json={"username": username, "password": GOOD, "role": role, **extra})


async def test_a_manager_manages_staff_and_drivers_only(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        for role in ("admin", "manager"):
            refused = await _create(http, f"new{role}", role)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert (await http.patch("/api/users/1", json={"display_name": "Boss"})).status_code == 403  # the admin
        assert (await http.get("/api/users/1")).status_code == 403
        assert (await http.delete("/api/users/1")).status_code == 403
        staff = await _create(http, "line-cook", "staff", truck_id=1)
        assert staff.status_code == 201
        promote = await http.patch(f"/api/users/{staff.json()['id']}", json={"role": "manager"})
        assert promote.status_code == 403
        listed = (await http.get("/api/users")).json()["items"]
        assert {u["role"] for u in listed} == {"staff", "driver"}
    async with server.client(await server.token("chef")) as http:
        assert (await http.get("/api/users")).status_code == 403
        assert (await _create(http, "sneaky", "staff", truck_id=1)).status_code == 403


async def test_refused_creations_write_nothing(server: RunningServer) -> None:
    async with server.client(await server.token("admin")) as http:
        cases = [
            ({"username": "a-cook", "password": "password1", "role": "staff", "truck_id": 1}, 422, "common"),
            ({"username": "a-cook", "password": "short", "role": "staff", "truck_id": 1}, 422, "8 characters"),
            ({"username": "a-cook", "password": "a-cook-rocks-hard", "role": "staff", "truck_id": 1}, 422, "username"),
            ({"username": "a-cook", "password": GOOD, "role": "staff"}, 422, "truck_id"),
            ({"username": "a-cook", "password": GOOD, "role": "staff", "truck_id": 99}, 404, "truck"),
            ({"username": "A Cook", "password": GOOD, "role": "staff", "truck_id": 1}, 422, "username"),
            ({"username": "chef", "password": GOOD, "role": "staff", "truck_id": 1}, 409, "taken"),
            ({"username": "a-cook", "password": GOOD, "role": "cook", "truck_id": 1}, 422, "role"),
        ]
        for body, status, fragment in cases:
            response = await http.post("/api/users", json=body)
            assert response.status_code == status and fragment in response.text, (body, response.text)
        usernames = [u["username"] for u in (await http.get("/api/users", params={"limit": 500})).json()["items"]]
        trail = (await http.get("/api/audit", params={"action": "user.create"})).json()["items"]
    assert "a-cook" not in usernames and trail == []


async def test_an_authority_change_closes_sockets_and_refuses_tokens_at_once(server: RunningServer) -> None:
    cook = await server.login("cook2")
    tablet = await server.connect(cook["access_token"])
    async with server.client(await server.token("manager")) as http:
        moved = await http.patch("/api/users/4", json={"truck_id": 1})
        assert moved.status_code == 200 and moved.json()["truck_id"] == 1
    code, frames = await closed_with(tablet, 1000 * MS)
    assert code == 4401 and frames[-1]["code"] == "unauthorized"
    async with server.client(cook["access_token"]) as http:
        assert (await http.get("/api/me")).status_code == 401
        again = await http.post("/api/auth/refresh", json={"refresh_token": cook["refresh_token"]})
        assert again.status_code == 401
    assert (await server.login("cook2"))["user"]["truck_id"] == 1  # logging in again gives the new truck


async def test_a_display_name_change_revokes_nothing(server: RunningServer) -> None:
    cook = await server.login("cook2")
    tablet = await server.connect(cook["access_token"])
    async with server.client(await server.token("manager")) as http:
        assert (await http.patch("/api/users/4", json={"display_name": "Priya"})).json()["display_name"] == "Priya"
    async with server.client(cook["access_token"]) as http:
        assert (await http.get("/api/me")).json()["display_name"] == "Priya"
    assert tablet.close_code is None


async def test_the_last_admin_cannot_be_demoted_or_deactivated(server: RunningServer) -> None:
    async with server.client(await server.token("admin")) as http:
        for change in ({"role": "manager"}, {"active": False}):
            refused = await http.patch("/api/users/1", json=change)
            assert refused.status_code == 409 and "last active admin" in refused.text
        assert (await _create(http, "second-admin", "admin")).status_code == 201
        assert (await http.patch("/api/users/1", json={"role": "manager"})).status_code == 200


async def test_two_admins_changing_one_user_at_once_are_both_audited_in_order(server: RunningServer) -> None:
    async with server.client(await server.token("admin")) as http:
        assert (await _create(http, "admin-two", "admin")).status_code == 201
    first = await server.token("admin")
    second = (await server.login("admin-two", GOOD))["access_token"]
    async with server.client(first) as a, server.client(second) as b:
        answers = await asyncio.gather(
            a.patch("/api/users/5", json={"display_name": "Dev A", "truck_id": 1}),
            b.patch("/api/users/5", json={"display_name": "Dev B", "truck_id": 2}),
        )
        assert [r.status_code for r in answers] == [200, 200]
        final = (await a.get("/api/users/5")).json()
        trail = (await a.get("/api/audit", params={"target": "user:5"})).json()["items"]
    older, newer = reversed(trail)
    assert older["new"]["display_name"] == newer["old"]["display_name"]  # each change saw the one before it
    assert (final["display_name"], final["truck_id"]) == (newer["new"]["display_name"], newer["new"]["truck_id"])
    assert final["display_name"] in ("Dev A", "Dev B")


async def test_own_profile_and_password(server: RunningServer) -> None:
    body = await server.login("chef")
    other = await server.login("chef")  # another device of the same user
    phone = await server.connect(other["access_token"])
    async with server.client(body["access_token"]) as http:
        me = await http.patch(
            "/api/me", json={"display_name": "Chef Ana", "phone": "+1 555 0100", "notification_channel": "sms"}
        )
        assert me.status_code == 200 and me.json()["notification_channel"] == "sms"
        assert (await http.patch("/api/me", json={"notification_channel": "pigeon"})).status_code == 422
        assert (await http.patch("/api/me", json={"role": "admin"})).status_code == 422  # not a profile field
        wrong = await http.post("/api/me/password", json={"current_password": "nope", "new_password": GOOD})
        assert wrong.status_code == 422 and "current password" in wrong.text
        weak = await http.post("/api/me/password", json={"current_password": "password", "new_password": "12345678"})
        assert weak.status_code == 422
        done = await http.post("/api/me/password", json={"current_password": "password", "new_password": GOOD})
        assert done.status_code == 204
        assert (await http.get("/api/me")).status_code == 200  # this session stays
    code, _ = await closed_with(phone, 1000 * MS)
    assert code == 4401  # the other session ends
    await server.login("chef", GOOD)


async def test_lists_are_paged_with_an_opaque_cursor(server: RunningServer) -> None:
    async with server.client(await server.token("admin")) as http:
        for i in range(5):
            assert (await _create(http, f"driver-extra-{i}", "driver")).status_code == 201
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/api/users", params=params)).json()
            seen += [u["id"] for u in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(seen) and len(seen) == len(set(seen)) == 11
        for bad in ({"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "garbage"}):
            assert (await http.get("/api/users", params=bad)).status_code == 400


@pytest.mark.parametrize("path", ["/api/trucks", "/api/locations", "/api/devices", "/api/audit", "/api/menu/audit"])
async def test_every_list_has_items_and_next_cursor(server: RunningServer, path: str) -> None:
    async with server.client(await server.token("admin")) as http:
        page = (await http.get(path, params={"limit": 1})).json()
    assert set(page) == {"items", "next_cursor"}
