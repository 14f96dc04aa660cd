"""Import target for uvicorn workers: ``uvicorn app.asgi:app_factory --factory``."""

from __future__ import annotations

from starlette.applications import Starlette

from app.logs import setup_logging
from app.main import create_app
from app.settings import Settings

__all__ = ["app_factory"]


def app_factory() -> Starlette:
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    return create_app(settings)
