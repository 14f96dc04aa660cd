"""Menu edits (audited), a shift's menu with stock and specials, inventory and once-per-crossing alerts."""

from __future__ import annotations

import asyncio

from tests.support.kitchen import CURRY, FRIES, LEMONADE, TACO, events_until, open_shift, order, set_stock, stock_of
from tests.support.kitchen import subscribe as sub
from tests.support.server import RunningServer


async def test_menu_edits_are_audited_and_reach_the_shift_menu(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        category = (await http.post("/api/menu/categories", json={"name": "Desserts", "position": 9})).json()
        assert {k: category[k] for k in ("name", "position")} == {"name": "Desserts", "position": 9}
        created = await http.post(
            "/api/menu/items",
            json={"category_id": category["id"], "name": "Churros", "price_cents": 300, "station": "fryer"},
        )
        assert created.status_code == 201
        item = created.json()
        assert {k: item[k] for k in ("category_id", "name", "price_cents", "station", "active")} == {
            "category_id": category["id"],
            "name": "Churros",
            "price_cents": 300,
            "station": "fryer",
            "active": True,
        }
        patched = (await http.patch(f"/api/menu/items/{item['id']}", json={"price_cents": 350})).json()
        assert patched["price_cents"] == 350
        sid = await open_shift(http)
        assert (await stock_of(http, sid, item["id"]))["price_cents"] == 350
        assert (await http.delete(f"/api/menu/items/{item['id']}")).status_code == 204
        assert (await http.patch(f"/api/menu/items/{item['id']}", json={"price_cents": 1})).status_code == 404
        menu = (await http.get(f"/api/shifts/{sid}/menu")).json()
        assert item["id"] not in {i["id"] for c in menu["categories"] for i in c["items"]}
        trail = (await http.get("/api/menu/audit")).json()["items"]
    me = (await server.login("manager"))["user"]["id"]
    targets = {f"category:{category['id']}", f"item:{item['id']}"}
    mine = [e["action"] for e in trail if e["target"] in targets]
    assert "menu.category.create" in mine and "menu.item.create" in mine
    update = next(e for e in trail if e["action"] == "menu.item.update" and e["target"] == f"item:{item['id']}")
    assert update["old"]["price_cents"] == 300 and update["new"]["price_cents"] == 350 and update["actor_id"] == me
    deleted = next(e for e in trail if e["action"] == "menu.item.delete" and e["target"] == f"item:{item['id']}")
    assert deleted["old"]["deleted"] is False and deleted["new"]["deleted"] is True


async def test_menu_edits_need_a_manager_and_valid_fields(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as chef:
        refused = await chef.post("/api/menu/categories", json={"name": "Nope", "position": 1})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert (await chef.patch(f"/api/menu/items/{TACO}", json={"price_cents": 1})).status_code == 403
        assert (await chef.delete(f"/api/menu/items/{TACO}")).status_code == 403
    async with server.client(await server.token("manager")) as http:
        bad_price = await http.post(
            "/api/menu/items", json={"category_id": 1, "name": "X", "price_cents": -5, "station": "grill"}
        )
        assert bad_price.status_code == 422 and bad_price.json()["error"]["details"][0]["field"] == "price_cents"
        no_category = await http.post(
            "/api/menu/items", json={"category_id": 999, "name": "X", "price_cents": 5, "station": "grill"}
        )
        assert no_category.status_code == 404
        assert (await http.patch(f"/api/menu/items/{TACO}", json={"name": None})).status_code == 422
        trail = (await http.get("/api/menu/audit")).json()["items"]
    assert trail == []  # nothing refused left a trace


async def test_shift_menu_shows_truck_items_stock_and_specials(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        sid = await open_shift(http)
        special = await http.post(
            f"/api/shifts/{sid}/specials",
            json={"name": "Birria taco", "price_cents": 550, "station": "grill", "stock": 12},
        )
        assert special.status_code == 201, special.text
        await set_stock(http, sid, {"item_id": FRIES, "stock": 0})
        menu = (await http.get(f"/api/shifts/{sid}/menu")).json()
        other = await open_shift(http, truck_id=2)
        other_menu = (await http.get(f"/api/shifts/{other}/menu")).json()
    names = {c["name"] for c in menu["categories"]}
    assert "Tacos" in names and "Curries" not in names  # truck 1's menu; curries belong to truck 2
    assert "Curries" in {c["name"] for c in other_menu["categories"]} and other_menu["specials"] == []
    fries = next(i for c in menu["categories"] for i in c["items"] if i["id"] == FRIES)
    assert (fries["stock"], fries["sold_out"]) == (0, True)
    (birria,) = menu["specials"]
    assert (birria["name"], birria["price_cents"], birria["stock"], birria["sold_out"]) == (
        "Birria taco",
        550,
        12,
        False,
    )
    assert isinstance(menu["seq"], int) and isinstance(menu["epoch"], str)


async def test_specials_window_and_ownership(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        sid = await open_shift(http)
        later = await http.post(
            f"/api/shifts/{sid}/specials",
            json={"name": "Late taco", "price_cents": 500, "available_from": "2099-01-01T00:00:00Z"},
        )
        assert later.status_code == 201 and later.json()["available_now"] is False
        bad = await http.post(
            f"/api/shifts/{sid}/specials",
            json={
                "name": "Backwards",
                "price_cents": 500,
                "available_from": "2030-01-02T00:00:00Z",
                "available_until": "2030-01-01T00:00:00Z",
            },
        )
        assert bad.status_code == 422
    async with server.client(await server.token("chef")) as chef:
        assert (await chef.post(f"/api/shifts/{sid}/specials", json={"name": "x", "price_cents": 1})).status_code == 403
        refused = await order(chef, sid, (later.json()["id"], 1))
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "sold_out"


async def test_stock_alerts_fire_once_per_crossing(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http)
        ws = await server.connect(token)
        await sub(ws, f"stock:{sid}")
        await set_stock(http, sid, {"item_id": TACO, "stock": 5, "low_threshold": 2})
        for _ in range(2):  # 5 -> 4 -> 3: still fine
            assert (await order(http, sid, (TACO, 1))).status_code == 201
        assert (await order(http, sid, (TACO, 1))).status_code == 201  # 3 -> 2: low
        assert (await order(http, sid, (TACO, 1))).status_code == 201  # 2 -> 1: still low, no repeat
        assert (await order(http, sid, (TACO, 1))).status_code == 201  # 1 -> 0: sold out
        gone = await order(http, sid, (TACO, 1))
        assert gone.status_code == 409 and gone.json()["error"]["code"] == "sold_out"
        await set_stock(http, sid, {"item_id": TACO, "stock": 10})  # back: restocked
        await set_stock(http, sid, {"item_id": LEMONADE, "stock": None, "sold_out": True})  # 86'd by hand
        await set_stock(http, sid, {"item_id": LEMONADE, "stock": None, "sold_out": False})
        events = await events_until(ws, lambda e: e["data"]["item_id"] == LEMONADE and e["event"] == "stock.restocked")
        await ws.close()
    assert [(e["event"], e["data"]["item_id"], e["data"]["remaining"]) for e in events] == [
        ("stock.low", TACO, 2),
        ("stock.sold_out", TACO, 0),
        ("stock.restocked", TACO, 10),
        ("stock.sold_out", LEMONADE, None),
        ("stock.restocked", LEMONADE, None),
    ]
    assert events[0]["data"]["threshold"] == 2 and events[0]["data"]["name"] == "Carne asada taco"
    assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[0]["seq"] + 5))


async def test_inventory_patch_is_atomic(server: RunningServer) -> None:
    async with server.client(await server.token("manager")) as http:
        sid = await open_shift(http)
        refused = await http.patch(
            f"/api/shifts/{sid}/inventory",
            json={"items": [{"item_id": TACO, "stock": 3}, {"item_id": CURRY, "stock": 3}]},  # curry: truck 2 only
        )
        assert refused.status_code == 422 and refused.json()["error"]["details"]["unknown_item_ids"] == [CURRY]
        assert (await stock_of(http, sid, TACO))["stock"] is None  # the valid line was not applied either
        negative = await http.patch(f"/api/shifts/{sid}/inventory", json={"items": [{"item_id": TACO, "stock": -1}]})
        assert negative.status_code == 422


async def test_last_unit_race_twenty_orders_for_five_units(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http, max_orders_per_slot=100)
        await set_stock(http, sid, {"item_id": TACO, "stock": 5})
        ws = await server.connect(token)
        await sub(ws, f"stock:{sid}")
        results = await asyncio.gather(*(order(http, sid, (TACO, 1)) for _ in range(20)))
        codes = sorted(r.status_code for r in results)
        assert codes == [201] * 5 + [409] * 15
        assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"sold_out"}
        assert sorted(r.json()["number"] for r in results if r.status_code == 201) == [1, 2, 3, 4, 5]
        assert (await stock_of(http, sid, TACO))["stock"] == 0
        await set_stock(http, sid, {"item_id": FRIES, "stock": 0})  # a marker event after the race's events
        events = await events_until(ws, lambda e: e["data"]["item_id"] == FRIES)
        await ws.close()
    assert [e["event"] for e in events if e["data"]["item_id"] == TACO] == ["stock.sold_out"]
