"""Driving the hub's screens in a real browser: Debian's Chromium through Playwright, headless.

Playwright's own browser download cannot work here (no internet beyond the package registries), so
the system ``chromium`` package is launched by path. Pages record their uncaught JavaScript errors so a
test fails on a script crash even when the screen happens to look right.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page

from tests.support.timing import MS

__all__ = ["CHROMIUM_ARGS", "SAVED", "Artefacts", "Screen", "chromium_path", "ms", "open_screen", "save_screenshot"]

CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # Keep timers and frames running at full speed in a page the window manager would call hidden.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--enable-precise-memory-info",
]
REPO_ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SAVED: list[Path] = []  # every artefact of the run, listed in the terminal summary


def chromium_path() -> str | None:
    """``HUB_TEST_CHROMIUM`` or Debian's ``chromium`` on the PATH, if installed."""
    configured = os.environ.get("HUB_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium")


def ms(milliseconds: float) -> float:
    """A Playwright timeout (milliseconds), scaled like every test timeout by ``HUB_TEST_TIME_FACTOR``."""
    return milliseconds * MS * 1000


@dataclass
class Screen:
    """An open page and what went wrong in it."""

    page: Page
    context: BrowserContext
    errors: list[str] = field(default_factory=list)


async def open_screen(
    browser: Browser, base_url: str, path: str, username: str, *, width: int = 1280, height: int = 800
) -> Screen:
    """A fresh context (its own sessionStorage, like a separate tablet), the page at ``path``, logged in."""
    context = await browser.new_context(viewport={"width": width, "height": height}, base_url=base_url)
    context.set_default_timeout(ms(15_000))
    page = await context.new_page()
    screen = Screen(page, context)
    page.on("pageerror", lambda exc: screen.errors.append(str(exc)))
    await page.goto(path)
    await page.fill("#login input[name=username]", username)
    await page.fill("#login input[name=password]", "password")
    await page.click("#login button[type=submit]")
    await page.locator("#board").wait_for(state="visible")
    return screen


async def save_screenshot(page: Page, directory: Path, name: str) -> list[Path]:
    """Save ``name``.png in ``directory`` and a copy under the repository's ``artifacts/`` (gitignored)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.png"
    await page.screenshot(path=str(target), full_page=False)
    saved = [target]
    try:
        REPO_ARTIFACTS.mkdir(exist_ok=True)
        copy = REPO_ARTIFACTS / target.name
        if copy != target:
            shutil.copyfile(target, copy)
            saved.append(copy)
    except OSError:  # a read-only checkout: the test's own directory still has it
        pass
    return saved


class Artefacts:
    """Screenshots and measurements of a test run (listed at the end of the run), copied to ``artifacts/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def screenshot(self, page: Page, name: str) -> None:
        _note(*await save_screenshot(page, self.directory, name))

    def write(self, name: str, text: str) -> None:
        path = self.directory / name
        path.write_text(text)
        _note(path)
        try:
            REPO_ARTIFACTS.mkdir(exist_ok=True)
            (REPO_ARTIFACTS / name).write_text(text)
            _note(REPO_ARTIFACTS / name)
        except OSError:
            pass


def _note(*paths: Path) -> None:
    SAVED.extend(p for p in paths if p not in SAVED)
