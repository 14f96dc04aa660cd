"""HubConfig: the limits and timings of the socket core (protocol.md §5).

Built by the application from its settings; ``hub/`` never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HubConfig"]


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Limits and timings. Every default is the contract's default, except ``outbound_queue`` (see there)."""

    node_id: str = "node"
    """Name of this hub process, sent in ``welcome.node``."""
    max_frame_bytes: int = 65536
    """Largest inbound frame; larger ones close 1009 (HUB_MAX_FRAME_BYTES)."""
    hello_timeout_s: float = 10.0
    """Time allowed for the first ``hello`` before closing 4408 (HUB_HELLO_TIMEOUT_S)."""
    heartbeat_s: float = 20.0
    """WebSocket ping interval; a pong missing for another interval closes 4408 (HUB_HEARTBEAT_S)."""
    max_subscriptions: int = 100
    """Topics one connection may hold (HUB_MAX_SUBSCRIPTIONS)."""
    commands_per_s: float = 50.0
    """Client commands per second per connection, ``gps`` excepted (HUB_COMMANDS_PER_S)."""
    abuse_factor: float = 4.0
    """Rejected commands tolerated without one quiet second, in multiples of
    ``commands_per_s``, before closing 4429 ("sustained abuse")."""
    gps_per_s: float = 5.0
    """GPS pings per second per driver (HUB_GPS_PER_S)."""
    outbound_queue: int = 512
    """Frames waiting to be written per connection; overflow on a reliable topic closes 4500 (HUB_OUTBOUND_QUEUE).
    Deliberately below ``history_size`` (the contract's 1024 is not): the frames a 4500 drops must still be in
    history, or the tablet could not resume with ``since`` (docs/protocol-notes.md)."""
    history_size: int = 1000
    """Events kept per reliable topic (HUB_HISTORY_SIZE)."""
    history_ttl_s: float = 900.0
    """Age after which a history event is forgotten (HUB_HISTORY_TTL_S)."""
    position_ttl_s: float = 900.0
    """Age after which a driver position is forgotten (HUB_POSITION_TTL_S)."""
    drain_s: float = 10.0
    """Time allowed for a graceful shutdown, from SIGTERM to exit (HUB_DRAIN_S): shared by the web server's
    phase (:attr:`server_drain_s`) and the hub's (:attr:`hub_drain_s`), which run one after the other."""
    send_buffer_bytes: int = 0
    """Per-socket cap on bytes queued for the network (kernel SO_SNDBUF and the transport's high-water
    mark); beyond it frames wait in the hub's bounded, conflating outbox. 0 keeps the OS and asyncio
    defaults (the kernel may autotune to megabytes). A small cap keeps slow dashboards' positions
    fresh: they get the newest per driver instead of a backlog (HUB_SEND_BUFFER_BYTES)."""
    max_invalid_frames: int = 20
    """Invalid frames in a row tolerated; one more closes 4400 (protocol.md §2.5)."""
    device_kinds: tuple[str, ...] = ()
    """Values ``hello``'s ``device.kind`` may take (the application's vocabulary); empty: any short word."""
    hello_credentials: tuple[str, ...] = ()
    """Hello fields accepted instead of ``token`` (default none), passed to the authenticator as ``credential``."""
    allowed_origins: tuple[str, ...] = ()
    """Browser ``Origin`` values accepted on ``/ws``; others get 403. Empty: any (HUB_ALLOWED_ORIGINS)."""
    max_pending_hellos: int = 100
    """Hellos at work on the application at once (authentication, device registration: the database); more
    wait for a slot, up to fifty per slot and ``hello_queue_s`` each, then are closed 1013 rather than queued
    behind work their clients will have given up on (HUB_MAX_PENDING_HELLOS; 0: no limit)."""
    hello_queue_s: float = 5.0
    """How long a hello may wait for a slot before it is closed 1013 (HUB_HELLO_QUEUE_S)."""
    max_opening_sockets: int = 500
    """Sockets between their 101 and the answer to their hello, at most; later upgrades wait their turn before
    the 101, fifty per socket at most, then are refused 503 (HUB_MAX_OPENING_SOCKETS; 0: no limit)."""
    max_sockets_per_user: int = 50
    """Open connections one user may hold on this node; one more is refused with 4429 (HUB_MAX_SOCKETS_PER_USER)."""
    touch_interval_s: float = 30.0
    """How often live connections report ``last_seen`` of their device to the application."""

    @property
    def server_drain_s(self) -> float:
        """The web server's share of ``drain_s`` (60 %): stop accepting, send every socket its 1001 after what
        is queued, wait for the peers' answers and for requests in flight (uvicorn's graceful timeout)."""
        return self.drain_s * _SERVER_DRAIN_SHARE

    @property
    def hub_drain_s(self) -> float:
        """The rest (40 %), for the application's shutdown: stragglers, the devices gone offline (one write),
        cancelling tasks, closing the broker and the database. The phases used to get ``drain_s`` each."""
        return self.drain_s - self.server_drain_s


_SERVER_DRAIN_SHARE = 0.6
