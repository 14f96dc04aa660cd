"""The Core side of SQLModel tables, for the hot writes that skip the ORM's unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlmodel import SQLModel

__all__ = ["row_of", "table_of"]


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class, for statements that skip the unit of work."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def row_of(instance: SQLModel) -> dict[str, Any]:
    """An instance's column values for a Core INSERT (an id still None is left to the database)."""
    table = table_of(type(instance))
    values = {c.name: getattr(instance, c.name) for c in table.columns}
    return {name: value for name, value in values.items() if value is not None or not table.c[name].primary_key}
