"""What every connection of a node is handed once (:class:`ConnectionKit`), and how a connection's end is
labelled for its host (:func:`disconnect_labels`): the node's side, seen from one connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.codes import CloseCode
from hub.config import HubConfig
from hub.metrics import HubMetrics
from hub.protocol.table import CommandTable
from hub.sender import Corker, SendStats
from hub.tasks import TaskSet

__all__ = ["ConnectionKit", "disconnect_labels"]

_PEER_CODES = frozenset({1000, 1001, 1005, 1006, *(int(c) for c in CloseCode)})


@dataclass(frozen=True, slots=True)
class ConnectionKit:
    """What every connection of a node shares, handed in once (not reached through a parent)."""

    config: HubConfig
    commands: CommandTable
    corker: Corker
    stats: SendStats
    tasks: TaskSet
    metrics: HubMetrics


def disconnect_labels(close_request: tuple[CloseCode, str] | None, peer_code: int | None) -> tuple[str, str]:
    """``hub_disconnects_total`` labels: the close code, and who closed (``server`` or ``client``).

    Codes the server's own framing decides (1007, 1009, 4408) reach the connection as the "peer"
    code; they are the server's. Peer codes outside a known set are ``other`` (bounded labels).
    """
    if close_request is not None:
        return str(int(close_request[0])), "server"
    if peer_code in (1002, 1007, 1009, int(CloseCode.TIMEOUT)):
        return str(peer_code), "server"
    if peer_code in _PEER_CODES:
        return str(peer_code), "client"
    return "other", "client"
