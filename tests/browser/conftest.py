"""Browser fixtures: Chromium (skipped locally when missing, an error in CI), pages, artefacts, restarts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from app.settings import Settings
from tests.support.browser import CHROMIUM_ARGS, SAVED, Artefacts, chromium_path
from tests.support.server import RunningServer, free_port, run_server


@pytest.fixture
def chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed: apt-get install -y chromium (or set HUB_TEST_CHROMIUM)")
    return path


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Artefacts:
    """Where screenshots and measurements go: ``HUB_TEST_ARTIFACTS``, else a pytest temporary directory."""
    configured = os.environ.get("HUB_TEST_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return Artefacts(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SAVED:
        terminalreporter.write_sep("-", "browser test artefacts")
        for path in SAVED:
            terminalreporter.write_line(str(path))


class RestartableServer:
    """The real server, stoppable and restartable on the same port with the same database (and broker settings).

    With the in-process broker a restart starts a new epoch, so resuming clients get ``recovered: false``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = replace(settings, port=free_port())
        self._stack: AsyncExitStack | None = None
        self.running: RunningServer | None = None

    async def start(self) -> RunningServer:
        assert self._stack is None, "already running"
        stack = AsyncExitStack()
        self.running = await stack.enter_async_context(run_server(self.settings, port=self.settings.port))
        self._stack = stack
        return self.running

    async def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack, self.running = self._stack, None, None
            await stack.aclose()


@pytest.fixture
async def restartable(settings: Settings) -> AsyncIterator[RestartableServer]:
    server = RestartableServer(settings)
    try:
        yield server
    finally:
        await server.stop()
