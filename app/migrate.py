"""Apply the Alembic migrations to a database URL (``make migrate``, tests, start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

__all__ = ["alembic_config", "connection_problem", "head_revision", "upgrade"]

_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    cfg = Config(str(_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(_ROOT / "app" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking: run it in a thread from async code (env.py starts its own event loop)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest migration in this checkout (what a database must be at to be served)."""
    cfg = Config(str(_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(_ROOT / "app" / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


# What a server says when it will not let us in (as opposed to a migration failing half-way, which keeps its traceback).
_REFUSALS = ("does not exist", "password authentication failed", "no pg_hba.conf entry", "unable to open database file")


def connection_problem(exc: BaseException) -> str | None:
    """One line saying why ``upgrade`` could not reach its database, or None for any other failure.

    Covers a Postgres server that is down or unknown (``OSError`` from the driver: refused, no such
    host, timed out) and a server that refuses the database or role (``DBAPIError`` carrying the
    server's message, e.g. ``database "hub" does not exist``). A migration that fails once connected
    is a bug: None, so the caller lets its traceback through.
    """
    if isinstance(exc, OSError):  # ConnectionRefusedError, socket.gaierror, TimeoutError
        return f"no database server answers ({exc.strerror or exc}): is PostgreSQL running, at that address?"
    if not isinstance(exc, DBAPIError):
        return None
    text = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
    reason = text.split(">: ", 1)[-1] if text.startswith("<class") else text  # asyncpg: "<class '…'>: message"
    if not any(marker in reason for marker in _REFUSALS):
        return None
    if "does not exist" in reason:
        return f'{reason}: create it first (README, "Several processes")'
    return reason[:200]
