"""Schemathesis over every operation of ``/openapi.json``, against a real server, as each role.

Each role gets its own server (a fresh database) with a shift, an order, a device and a spare user.
Examples are generated from the served document: valid ones (``positive``), first with the ids of
those rows in the path, then with any id, and invalid ones (``negative``). Every answer must be a
non-5xx status the document lists for that operation, of a documented media type, whose body matches
the documented schema.

Schemathesis drives ``requests`` (blocking), so it runs in a worker thread while the server keeps
serving in the test's event loop. Operations that end the caller's session (logout, own password)
run last; user changes act on the spare user when ids are "known"; a revoked token is replaced.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.seed import DEMO_PASSWORD, DEMO_USERS
from tests.support.kitchen import open_shift, order
from tests.support.server import RunningServer

USERS = {"admin": "admin", "manager": "manager", "staff": "chef", "driver": "driver1"}
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
SCALE = float(os.environ.get("HUB_TEST_FUZZ_SCALE", "1"))
"""More examples for a longer hunt (e.g. 10); the default keeps the four runs within about two minutes."""
PASSES = [
    ("known", POSITIVE, round(10 * SCALE)),
    ("any", POSITIVE, round(6 * SCALE)),
    ("any", NEGATIVE, round(5 * SCALE)),
]
"""(path ids, mode, examples): ids of rows that exist, so answers other than 404 are checked too; then any id."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
LAST = ("POST /api/me/password", "POST /api/auth/logout")
"""End the caller's session or other sessions: after everything else, in this order."""
USER_CHANGES = ("PATCH /api/users/{id}", "DELETE /api/users/{id}")
"""Never on the caller itself: a deactivation, a new role or password would lock the rest of the run out."""
CREDENTIALS = ("POST /api/auth/login", "POST /api/auth/refresh")
"""Their 401s are about the body, not the caller's token."""


@dataclass
class Fuzzer:
    """One role's run: a logged-in session that logs in again whenever a fuzzed call revoked its token."""

    base_url: str
    username: str
    known: dict[str, Any]
    """Path parameter values by path prefix, e.g. ``/api/shifts/`` → the prepared shift's id."""
    session: requests.Session = field(default_factory=requests.Session)
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    user_id: int = 0

    def login(self) -> None:
        answer = self.session.post(
            f"{self.base_url}/api/auth/login", json={"username": self.username, "password": DEMO_PASSWORD}, timeout=10
        )
        if answer.status_code == 200:
            self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            self.user_id = answer.json()["user"]["id"]

    def run(self, schema: Any) -> None:
        self.login()
        operations = [result.ok() for result in schema.get_all_operations()]
        operations.sort(key=lambda op: LAST.index(op.label) + 1 if op.label in LAST else 0)
        for operation in operations:
            for ids, mode, count in PASSES:
                path = self._known(operation) if ids == "known" else None
                if ids == "any" or path:
                    self._operation(operation, mode, count, path)

    def _known(self, operation: Any) -> dict[str, Any] | None:
        for prefix, value in self.known.items():
            if operation.path.startswith(prefix) and "{" in operation.path:
                name = operation.path.split("{", 1)[1].split("}", 1)[0]
                return {name: value}
        return None

    def _operation(self, operation: Any, mode: GenerationMode, count: int, path: dict[str, Any] | None) -> None:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path)
        if operation.label in USER_CHANGES:
            strategy = strategy.filter(lambda case: case.path_parameters.get("id") != self.user_id)

        @given(case=strategy)
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def examples(case: Any) -> None:
            response = case.call(base_url=self.base_url, session=self.session, timeout=10)
            self.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as exc:  # collected: one report with the first failure of each operation and mode
                label = f"{operation.label} [{mode.value}{', known ids' if path else ''}]"
                if not any(f.startswith(label) for f in self.failures):
                    self.failures.append(f"{label}: {str(exc)[:1500]}")
            if operation.label == LAST[-1] or (response.status_code == 401 and operation.label not in CREDENTIALS):
                self.login()  # logged out, or a fuzzed change (role, password) revoked the token: go on as before

        try:
            examples()
        except Unsatisfiable:
            if mode is POSITIVE:
                raise
            # nothing of this operation can be made invalid (no parameters, no body): the positive run covers it


async def _prepare(server: RunningServer) -> dict[str, Any]:
    """Rows for ids to find: a shift of truck 1 with an order, a device, and a spare driver to change and deactivate."""
    async with server.client(await server.token("admin")) as http:
        shift_id = await open_shift(http)
        placed = await order(http, shift_id, (1, 1))
        spare = await http.post(
            "/api/users", json={"username": "spare", "password": "a long enough passphrase 7", "role": "driver"}
        )
        assert placed.status_code == 201 and spare.status_code == 201, (placed.text, spare.text)
    return {
        "/api/shifts/": shift_id,
        "/api/orders/": placed.json()["id"],
        "/api/users/": spare.json()["id"],
        "/api/trucks/": 1,
        "/api/locations/": 1,
        "/api/menu/items/": 1,
        "/api/drivers/": DEMO_USERS.index(("driver1", "driver", None)) + 1,
        "/api/devices/": "fuzz-tablet",
    }


async def _register_device(server: RunningServer, username: str) -> None:
    async with server.client(await server.token(username)) as http:
        answer = await http.post("/api/devices", json={"device_id": "fuzz-tablet", "kind": "kds"})
        assert answer.status_code == 201, answer.text


@pytest.mark.timeout(600)
@pytest.mark.hub(
    login_max_failures_user=10**6,
    login_max_failures_ip=10**6,
    login_max_failures_account=10**6,
    guest_requests_per_min=10**6,
    payment_webhook_secret="fuzz-webhook-secret",  # guest payments on: their real paths are fuzzed, not a 503
)
@pytest.mark.parametrize("role", list(USERS))
async def test_every_operation_conforms_to_the_document(server: RunningServer, role: str) -> None:
    known = await _prepare(server)
    await _register_device(server, USERS[role])
    async with server.client() as http:
        document = (await http.get("/openapi.json")).json()
    fuzzer = Fuzzer(server.http, USERS[role], known)
    schema = schemathesis.openapi.from_dict(document)
    started = time.monotonic()
    await asyncio.to_thread(fuzzer.run, schema)
    elapsed = time.monotonic() - started
    print(f"{role}: {fuzzer.statuses.total()} calls in {elapsed:.1f} s, by status {sorted(fuzzer.statuses.items())}")
    assert not fuzzer.failures, "\n\n".join(fuzzer.failures)
    # The run kept its session: 401s are the answers to fuzzed credentials and dropped headers, not a lockout.
    assert fuzzer.statuses[401] < fuzzer.statuses.total() / 5, fuzzer.statuses
