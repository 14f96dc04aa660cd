"""Apply the Alembic migrations to a database URL (``make migrate``, tests, start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

__all__ = ["alembic_config", "head_revision", "upgrade"]

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
