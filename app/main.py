"""``create_app(settings)``: the Starlette app; its lifespan builds and closes every resource."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client import multiprocess as prom_multiprocess
from sqlalchemy import func
from sqlmodel import select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from app.admission import AdmissionMiddleware
from app.backends import backends, shift_locks
from app.db import Database
from app.devices import DbDevices
from app.errors import exception_handlers
from app.gc_policy import settle_heap
from app.gps.command import GPS_SPEC
from app.gps.ingest import GpsIngest, GpsMetrics
from app.gps.topics import gps_families
from app.guest_limit import GuestRateLimit
from app.hub_plugins import TOPIC_FAMILIES, AuditedNotices, TokenAuthenticator, TopicPermissions, is_driver
from app.metrics import HttpMetrics, MetricsExporter, OutboxMetrics, multiprocess_enabled
from app.middleware import RefuseNul, RequestMiddleware
from app.models import User
from app.passwords import password_hashing
from app.route_index import index_routes
from app.routes import all_routes
from app.security import TokenSigner
from app.services import guest_reconcile
from app.services.auth import AuthService
from app.services.relay import Relay
from app.services.revocation import RevocationWatch
from app.sessions import OpenSessions, SessionCache
from app.settings import Settings
from app.shutdown import ClosingSteps
from app.socket_route import SocketFirst
from app.state import AppState
from hub.hub import Hub
from hub.metrics import HubMetrics
from hub.server import CROWDED_STATE_KEY, HEARTBEAT_STATE_KEY, PACER_STATE_KEY
from hub.topics import TopicRegistry

__all__ = ["create_app"]

log = logging.getLogger("app")


def create_app(settings: Settings) -> Starlette:
    """Build the application. Nothing is opened until the lifespan starts."""
    # A ``*_created`` timestamp series per counter and histogram doubles what Prometheus stores for nothing a
    # dashboard uses. prometheus_client only offers a process-wide switch; every registry here wants it off.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    http_metrics = HttpMetrics(registry)
    hub_metrics = HubMetrics(registry)
    gps_metrics = GpsMetrics(registry)
    outbox_metrics = OutboxMetrics(registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        hub_config = settings.hub_config()
        db = Database(settings.database_url, pool_size=settings.db_pool_size, timeout_s=settings.db_timeout_s)
        stores = backends(settings)
        passwords = password_hashing(settings)
        auth = AuthService(
            signer=TokenSigner(settings.signing_key, access_ttl_s=settings.access_ttl_s),
            passwords=passwords,
            throttle=stores.throttle,
            refresh_ttl_s=settings.refresh_ttl_s,
            open_sessions=OpenSessions(db),
            wait_s=settings.hash_wait_s,
        )
        presence, positions = stores.presence, stores.positions
        sessions = SessionCache()
        notices = AuditedNotices(db)
        gps = GpsIngest(
            positions, per_s=settings.gps_per_s, may_send=is_driver, metrics=gps_metrics, hub_metrics=hub_metrics
        )
        hub = Hub(
            config=hub_config,
            broker=stores.broker,
            presence=presence,
            topics=TopicRegistry([*TOPIC_FAMILIES, *gps_families(positions)]),
            authenticator=TokenAuthenticator(db, auth, sessions),
            authorizer=TopicPermissions(db),
            devices=DbDevices(db, max_per_user=settings.max_devices_per_user),
            metrics=hub_metrics,
            commands=[(GPS_SPEC, gps.handle)],
            publish_recorder=notices,
        )
        gps.publish = hub.publish_volatile
        hub.every_second(gps.flush_metrics)
        await presence.start()
        await hub.start()
        revocations = RevocationWatch(db, hub, sessions)
        revocations.start()
        locks = shift_locks(db, settings.fault)
        relay = Relay(db, hub, locks, metrics=outbox_metrics)
        hub.spawn(relay.run(), name="outbox-relay")  # cancelled by hub.drain()
        if settings.guest_reconcile_s > 0:
            reconcile = guest_reconcile.run_periodically(db, locks, relay, settings.guest_reconcile_s)
            hub.spawn(reconcile, name="guest-reconcile")
        await _say_when_nobody_can_log_in(db)
        settle_heap()
        log.info(
            "hub node %s ready (env=%s, broker=%s)", hub_config.node_id, settings.env, settings.broker_url or "memory"
        )
        try:
            state = AppState(settings, db, hub, auth, MetricsExporter(registry), locks, positions, relay, sessions)
            state.guest_limit = GuestRateLimit(settings.guest_requests_per_min)
            yield {
                "app": state,
                "hub": hub,
                HEARTBEAT_STATE_KEY: hub.heartbeat,
                CROWDED_STATE_KEY: hub.crowded,
                PACER_STATE_KEY: hub.upgrades,
            }
        finally:
            # Reverse order: sockets first (1001, flushed), then the broker, then the database; each step
            # bounded (app.shutdown), so one resource that will not close cannot keep the process alive.
            await revocations.stop()
            steps = ClosingSteps(hub_config.hub_drain_s)
            await steps.run("hub drain", hub.drain(steps.deadline))
            await steps.run("audit notices", notices.flush(timeout=2.0))
            passwords.close()
            await steps.run("broker and shared stores", stores.close())
            await steps.run("database", db.close())
            if multiprocess_enabled():  # this worker's live gauges (connections) stop counting
                prom_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
            log.info("hub node %s stopped", hub_config.node_id)

    # The socket first: upgrades skip the REST middleware and the router (app.socket_route).
    middleware = [Middleware(SocketFirst), Middleware(RequestMiddleware, metrics=http_metrics), Middleware(RefuseNul)]
    refused = hub_metrics.overload_refusals.labels("request")
    if settings.origins:  # browsers on these origins may call the REST API (tokens travel in a header, not cookies)
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
                expose_headers=["Retry-After", "Idempotent-Replayed", "X-Request-Id"],
                max_age=600,
            )
        )
    # Innermost, so a refusal is still logged, counted per route and given CORS headers (Retry-After readable).
    middleware.append(Middleware(AdmissionMiddleware, limit=settings.max_pending_requests, refused=refused))
    app = Starlette(
        routes=all_routes(), middleware=middleware, exception_handlers=exception_handlers, lifespan=lifespan
    )
    return index_routes(app, lifespan)  # each request tries only the routes its path could match


async def _say_when_nobody_can_log_in(db: Database) -> None:
    """A fresh production database has no user at all: tell the operator the one command that fixes it."""
    try:
        async with db.session() as session:
            users = (await session.exec(select(func.count()).select_from(User))).one()
    except Exception as exc:  # no database yet: /readyz says so; the server still starts
        log.warning("could not count users: %s", exc)
        return
    if users == 0:
        log.warning("no users yet: create the first admin with: python -m app users create NAME --role admin")
