"""Login, refresh rotation, logout and throttling (protocol.md §4)."""

from __future__ import annotations

import pytest

from tests.support.server import RunningServer


async def test_login_returns_the_contract_shape(server: RunningServer) -> None:
    body = await server.login("chef")
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["user"] == {"id": 3, "username": "chef", "role": "staff", "truck_id": 1}
    async with server.client(body["access_token"]) as http:
        me = (await http.get("/api/me")).json()
        assert {k: me[k] for k in body["user"]} == body["user"]  # the contract's fields, and a profile besides


async def test_wrong_credentials_are_401_with_the_error_envelope(server: RunningServer) -> None:
    async with server.client() as http:
        for username in ("chef", "nobody"):
            response = await http.post("/api/auth/login", json={"username": username, "password": "wrong"})
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"


async def test_malformed_login_bodies(server: RunningServer) -> None:
    async with server.client() as http:
        response = await http.post("/api/auth/login", content=b"{nope")
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
        response = await http.post("/api/auth/login", json={"username": 3})
        assert response.status_code == 422
        assert {d["field"] for d in response.json()["error"]["details"]} == {"username", "password"}


@pytest.mark.hub(login_max_failures_user=3, login_max_failures_ip=100)
async def test_repeated_failures_per_username_are_429(server: RunningServer) -> None:
    async with server.client() as http:
        for _ in range(3):
            assert (await http.post("/api/auth/login", json={"username": "chef", "password": "x"})).status_code == 401
        response = await http.post("/api/auth/login", json={"username": "chef", "password": "password"})
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "rate_limited"
        other = await http.post("/api/auth/login", json={"username": "cook2", "password": "password"})
        assert other.status_code == 200  # another user from the same address is not blocked


@pytest.mark.hub(login_max_failures_user=100, login_max_failures_ip=4)
async def test_repeated_failures_per_address_are_429(server: RunningServer) -> None:
    async with server.client() as http:
        for name in ("a", "b", "c", "d"):
            assert (await http.post("/api/auth/login", json={"username": name, "password": "x"})).status_code == 401
        response = await http.post("/api/auth/login", json={"username": "chef", "password": "password"})
        assert response.status_code == 429


async def test_refresh_rotates_and_reuse_revokes_the_session(server: RunningServer) -> None:
    first = await server.login("chef")
    async with server.client() as http:
        rotated = await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200
        pair = rotated.json()
        assert pair["refresh_token"] != first["refresh_token"]
        reuse = await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reuse.status_code == 401  # the old token stopped working...
        after = await http.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert after.status_code == 401  # ...and its reuse ended the whole session (theft)
        me = await http.get("/api/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
        assert me.status_code == 401


async def test_logout_revokes_access_and_refresh_tokens(server: RunningServer) -> None:
    body = await server.login("manager")
    async with server.client(body["access_token"]) as http:
        assert (await http.post("/api/auth/logout")).status_code == 200
        assert (await http.get("/api/trucks")).status_code == 401
        again = await http.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
        assert again.status_code == 401


async def test_missing_and_garbage_tokens_are_401(server: RunningServer) -> None:
    async with server.client() as http:
        assert (await http.get("/api/me")).status_code == 401
        response = await http.get("/api/me", headers={"Authorization": "Bearer abc.def.ghi"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
