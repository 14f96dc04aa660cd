"""The transactional outbox: events written in the same transaction as the change they announce.

A row exists from the commit of its change until a relay has published it. Its ``id`` orders
the events of a shift (every write on a shift holds that shift's lock across its transaction)
and is the broker's repeat guard, so ids must never be reused: AUTOINCREMENT on SQLite, a
sequence on Postgres, 64-bit on both.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary
from sqlmodel import Field, SQLModel

__all__ = ["OutboxEvent"]

_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite's AUTOINCREMENT needs exactly INTEGER (64-bit anyway)


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, sa_column=Column(_ID, primary_key=True, autoincrement=True))
    shift_id: int = Field(index=True)
    topic: str = Field(max_length=128)
    event: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """The event's ``data`` as JSON, encoded once when staged."""
    created_at: float = Field(index=True)
    """Unix time of staging: the relay's sweep and the backlog's age."""
