"""``python -m hub_client listen WS_URL TOPIC… --token T``: a socket that prints every frame it exchanges.

For trying the protocol by hand (README "Try it"): ``>`` lines are what the client sends, ``<``
lines what the hub sent. ``--count N`` stops after N events. Reconnects and resumes like any
``HubSocket``; every failure is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import Any

import orjson

from hub_client.api import Api
from hub_client.errors import HubClientError
from hub_client.frames import Event, Item, Resync, Status
from hub_client.socket import HubSocket

__all__ = ["main"]


def _show(direction: str, frame: dict[str, Any]) -> None:
    if "token" in frame:  # hello, refresh: enough of the token to tell them apart, not enough to reuse it
        frame = {**frame, "token": str(frame["token"])[:12] + "…"}
    print(direction, orjson.dumps(frame).decode(), flush=True)


def _status(status: Status) -> None:
    if status.state == "offline":
        print(f"# connection lost ({status.code} {status.reason}): retrying in {status.retry_in:.1f} s", flush=True)


async def _listen(args: argparse.Namespace) -> None:
    api: Api | None = None
    token: Any = args.token
    if token is None:
        api = Api(args.url.replace("ws", "http", 1).removesuffix("/ws"))
        password = os.environ.get("HUB_PASSWORD") or getpass.getpass(f"password for {args.user}: ")
        await api.login(args.user, password)
        token = api
    enough = asyncio.Event()
    seen = 0

    def on_item(item: Item) -> None:
        nonlocal seen
        if isinstance(item, Resync):
            print(f"# {item.topic}: the hub could not replay what was missed: refetch its snapshot", flush=True)
        seen += isinstance(item, Event)
        if args.count is not None and seen >= args.count:
            enough.set()

    device = {"id": "hub-client-listen", "kind": "other"}
    socket = HubSocket(args.url, token, device=device, on_status=_status, trace=_show)
    try:
        await socket.connect()
        for topic in args.topics:
            await socket.subscribe(topic, on_item=on_item)
        closed = asyncio.ensure_future(socket.wait_closed())
        await asyncio.wait([closed, asyncio.ensure_future(enough.wait())], return_when=asyncio.FIRST_COMPLETED)
        if closed.done():
            closed.result()
    finally:
        await socket.close()
        if api is not None:
            await api.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hub_client", description="FusionX hub client")
    sub = parser.add_subparsers(dest="command", required=True)
    listen = sub.add_parser("listen", help="connect, subscribe and print every frame")
    listen.add_argument("url", help="the socket URL, e.g. ws://127.0.0.1:8000/ws")
    listen.add_argument("topics", nargs="+", metavar="TOPIC", help="e.g. kds:1")
    who = listen.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", help="an access token (from POST /api/auth/login)")
    who.add_argument("--user", help="log in as this user (password from HUB_PASSWORD, else a prompt)")
    listen.add_argument("--count", type=int, default=None, help="exit after this many events")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_listen(args))
    except HubClientError as exc:
        print(f"hub_client: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("hub_client: stopped", file=sys.stderr)
        raise SystemExit(130) from None
