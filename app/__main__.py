"""Command line: ``python -m app migrate | seed [--reset|--if-empty] | serve | demo | watch | users …``."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile

import uvicorn
from sqlalchemy.exc import DBAPIError

from app.cli_users import add_parser as add_users_parser
from app.cli_users import run_users
from app.db import Database, sqlite_problem
from app.demo import run_demo, run_watch
from app.logs import setup_logging
from app.migrate import connection_problem, upgrade
from app.passwords import password_hashing
from app.seed import DEMO_PASSWORD, seed
from app.serving import uvicorn_options
from app.settings import Settings, SettingsError


def _migrate(settings: Settings) -> None:
    """Apply the migrations, or say in one line why the database cannot be reached (no traceback)."""
    where = settings.database_url.split("@")[-1]
    problem = sqlite_problem(settings.database_url)
    if problem is None:
        try:
            upgrade(settings.database_url)
        except (OSError, DBAPIError) as exc:
            problem = connection_problem(exc)
            if problem is None:
                raise
    if problem is not None:
        print(f"fusionx-hub: cannot migrate the database at {where}: {problem}", file=sys.stderr)
        raise SystemExit(1)
    print(f"migrations applied to {where}")


def _seed(settings: Settings, *, reset: bool, if_empty: bool) -> None:
    if settings.production:
        if if_empty and not reset:  # `make run` in production: no demo data, and not an error
            print("production mode: no demo data (first admin: python -m app users create NAME --role admin)")
            return
        print("refusing to seed demo data: HUB_ENV=production", file=sys.stderr)
        raise SystemExit(2)

    async def run() -> bool:
        db = Database(settings.database_url)
        try:
            return await seed(db, reset=reset, password_hash=password_hashing(settings).hash_sync(DEMO_PASSWORD))
        finally:
            await db.close()

    wrote = asyncio.run(run())
    print("demo data seeded (password: 'password')" if wrote else "database not empty: demo data left as it is")


def _serve(settings: Settings) -> None:
    setup_logging(settings.log_level)
    if settings.workers > 1 and settings.database_url.startswith("sqlite"):
        print(
            "fusionx-hub: warning: several workers on SQLite share the file but not the per-shift snapshot lock; "
            "use Postgres (DATABASE_URL=postgresql+asyncpg://…) for more than one process",
            file=sys.stderr,
        )
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # prometheus-client multiprocess mode: every worker writes its samples here; /metrics merges them.
        path = tempfile.mkdtemp(prefix="fusionx-prom-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        uvicorn.run(
            "app.asgi:app_factory",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_config=None,
            access_log=False,
            **uvicorn_options(settings),
        )
    finally:
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
        if settings.workers > 1 and path.startswith(tempfile.gettempdir()):
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description="FusionX hub")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the Alembic migrations to DATABASE_URL")
    seed_cmd = sub.add_parser("seed", help="load demo data (dev mode only)")
    seed_cmd.add_argument("--reset", action="store_true", help="wipe and reseed")
    seed_cmd.add_argument("--if-empty", action="store_true", help="only when there are no users (default)")
    sub.add_parser("serve", help="serve on HOST:PORT with WORKERS processes")
    demo_cmd = sub.add_parser("demo", help="place a realistic order every second on the demo truck (dev server)")
    demo_cmd.add_argument("--every", type=float, default=1.0, help="seconds between orders (default 1)")
    demo_cmd.add_argument("--count", type=int, default=None, help="stop after this many orders")
    sub.add_parser("watch", help="print the demo shift's KDS and stock events, like a tablet")
    add_users_parser(sub)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"fusionx-hub: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    base = f"http://{settings.host}:{settings.port}"
    if args.command in ("demo", "watch") and settings.production:
        print("the demo uses the demo accounts: dev mode only", file=sys.stderr)
        raise SystemExit(2)
    if args.command == "users":
        run_users(settings, args)
    elif args.command == "demo":
        run_demo(base, args.every, args.count)
    elif args.command == "watch":
        run_watch(base)
    elif args.command == "migrate":
        _migrate(settings)
    elif args.command == "seed":
        _seed(settings, reset=args.reset, if_empty=args.if_empty)
    else:
        _serve(settings)


if __name__ == "__main__":
    main()
