"""``python -m app users …``: the operator's first admin, and user care when no one can log in.

Works in any mode (production included) against ``DATABASE_URL``. Passwords come from standard
input: a prompt with confirmation on a terminal, one line otherwise (``echo "$PW" | …`` in scripts).
Every failure is one line on stderr and a non-zero exit, never a traceback. Sessions revoked here
are closed on running servers by their revocation watch (within about a second).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlmodel import col, select

from app.db import Database, sqlite_problem
from app.errors import ApiError
from app.models import User
from app.models.people import UserCreate, UserUpdate
from app.password_policy import password_problem
from app.passwords import password_hashing
from app.services import users
from app.settings import Settings

__all__ = ["add_parser", "run_users"]


class CliError(Exception):
    """One line for the operator; exit status 1 (2 for bad input)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def add_parser(sub: Any) -> None:
    cmd = sub.add_parser("users", help="create, list, reset or disable users (works in production)")
    users_sub = cmd.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user; the password is read from standard input")
    create.add_argument("name")
    create.add_argument("--role", required=True, choices=["admin", "manager", "staff", "driver"])
    create.add_argument("--truck", type=int, default=None, help="the truck's id (required for staff)")
    create.add_argument("--display-name", default=None)
    users_sub.add_parser("list", help="every user, with role, truck and whether active")
    reset = users_sub.add_parser("set-password", help="set a new password (read from standard input); logs them out")
    reset.add_argument("name")
    disable = users_sub.add_parser("disable", help="deactivate a user; their sessions end and sockets close")
    disable.add_argument("name")


def run_users(settings: Settings, args: argparse.Namespace) -> None:
    commands: dict[str, Callable[[Database, Settings, argparse.Namespace], Awaitable[None]]] = {
        "create": _create,
        "list": _list,
        "set-password": _set_password,
        "disable": _disable,
    }
    try:
        asyncio.run(_with_database(settings, args, commands[args.users_command]))
    except CliError as exc:
        print(f"fusionx-hub: {exc}", file=sys.stderr)
        raise SystemExit(exc.status) from None
    except KeyboardInterrupt:
        print("fusionx-hub: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


async def _with_database(
    settings: Settings,
    args: argparse.Namespace,
    command: Callable[[Database, Settings, argparse.Namespace], Awaitable[None]],
) -> None:
    db = Database(settings.database_url, timeout_s=min(settings.db_timeout_s, 5.0))
    try:
        await _check_schema(db, settings)
        await command(db, settings, args)
    except ApiError as exc:
        raise CliError(exc.message, 2 if exc.status in (400, 422) else 1) from None
    finally:
        await db.close()


async def _check_schema(db: Database, settings: Settings) -> None:
    """The database answers and is migrated, or one line says what to do."""
    from app.migrate import head_revision

    where = settings.database_url.split("@")[-1]
    problem = sqlite_problem(settings.database_url)
    if problem is not None:
        raise CliError(f"cannot reach the database at {where}: {problem}")
    try:
        async with db.engine.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except (OperationalError, ProgrammingError, DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:160]
        if "alembic_version" in reason or "no such table" in reason or "does not exist" in reason:
            raise CliError(f"the database at {where} is not migrated: run `python -m app migrate` first") from None
        raise CliError(f"cannot reach the database at {where}: {reason}") from None
    if current != head_revision():
        raise CliError(f"the database at {where} is at migration {current}: run `python -m app migrate` first")


def _read_password(prompt: str, username: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt} for {username}: ")
        problem = password_problem(first, username=username)
        if problem is None and getpass.getpass("again: ") != first:
            raise CliError("the two passwords differ: nothing changed", 2)
    else:
        first = sys.stdin.readline().rstrip("\r\n")
        problem = password_problem(first, username=username)
    if problem is not None:
        raise CliError(f"password {problem}: nothing changed", 2)
    return first


async def _create(db: Database, settings: Settings, args: argparse.Namespace) -> None:
    try:
        body = UserCreate(
            username=args.name, password="-", role=args.role, truck_id=args.truck, display_name=args.display_name
        )
    except ValueError as exc:
        first = str(exc).splitlines()[1:3]
        raise CliError(f"invalid user: {' '.join(line.strip() for line in first)}", 2) from None
    password = _read_password("password", body.username)
    password_hash = await asyncio.to_thread(password_hashing(settings).hash_sync, password)
    async with db.session() as session:
        user = await users.create_user(session, body, None, password_hash)
    print(f"created {user.role} {user.username} (id {user.id})")


async def _list(db: Database, settings: Settings, args: argparse.Namespace) -> None:
    async with db.session() as session:
        rows = (await session.exec(select(User).order_by(col(User.id)))).all()
    print(f"{'id':>5}  {'username':<24} {'role':<8} {'truck':>5}  {'active':<6} display name")
    for u in rows:
        truck, active = "" if u.truck_id is None else str(u.truck_id), "yes" if u.active else "no"
        print(f"{u.id:>5}  {u.username:<24} {u.role:<8} {truck:>5}  {active:<6} {u.display_name or ''}")


async def _find(db: Database, name: str) -> User:
    async with db.session() as session:
        user = (await session.exec(select(User).where(User.username == name.strip().lower()))).first()
    if user is None:
        raise CliError(f"no user named {name!r}")
    return user


async def _set_password(db: Database, settings: Settings, args: argparse.Namespace) -> None:
    user = await _find(db, args.name)
    password = _read_password("new password", user.username)
    password_hash = await asyncio.to_thread(password_hashing(settings).hash_sync, password)
    async with db.session() as session:
        assert user.id is not None
        await users.update_user(
            session, user.id, UserUpdate(), None, password_hash=password_hash, action="user.password_reset"
        )
    print(f"password of {user.username} changed; their sessions were ended")


async def _disable(db: Database, settings: Settings, args: argparse.Namespace) -> None:
    user = await _find(db, args.name)
    async with db.session() as session:
        assert user.id is not None
        await users.update_user(session, user.id, UserUpdate(active=False), None, action="user.deactivate")
    print(f"{user.username} disabled; their sessions were ended")
