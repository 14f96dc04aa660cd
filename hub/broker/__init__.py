"""Brokers: :func:`create_broker` picks an implementation from a URL."""

from __future__ import annotations

from hub.broker.base import Broker, BrokerEventHandler, BrokerUnavailable
from hub.broker.memory import MemoryBroker

__all__ = ["Broker", "BrokerEventHandler", "BrokerUnavailable", "MemoryBroker", "create_broker"]


def create_broker(url: str, *, history_size: int, history_ttl_s: float, namespace: str = "fx") -> Broker:
    """``""`` or ``memory://``: in-process; ``redis://`` / ``rediss://``: shared by every node using that Redis.

    Other schemes raise ``ValueError`` naming what is supported.
    """
    if url in ("", "memory://"):
        return MemoryBroker(history_size=history_size, history_ttl_s=history_ttl_s)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from hub.broker.redis import RedisBroker  # imported only when used

        return RedisBroker.from_url(url, history_size=history_size, history_ttl_s=history_ttl_s, namespace=namespace)
    scheme = url.partition("://")[0]
    raise ValueError(f"unsupported HUB_BROKER_URL scheme {scheme!r}: use '' (in-process) or redis://host:port/db")
