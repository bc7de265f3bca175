"""One test's browser tab (conftest.py opens it): the devices the tests use, a screenshot of each
step (and, with UPDATE_SCREENSHOTS=1, the README's screenshots), and the console errors the tab saw,
sorted into those allowed and the rest."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Error, Page

PHONE: dict[str, Any] = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DOCS_WIDTH = 960  # the README's screenshots: a desktop page, narrow enough to read on GitHub
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


@dataclass
class BrowserRun:
    """One test's browser tab, with what it logged and where its screenshots go."""

    page: Page
    gateway: str
    simulator: str
    artifacts: Path
    problems: list[str] = field(default_factory=list)
    allowed_http_errors: list[tuple[int, str]] = field(default_factory=list)
    _steps: int = 0

    def open(self, route: str = "") -> None:
        """Load the portal afresh, e.g. ``open("#/history")`` (a new document, even from another route)."""
        self.page.goto("about:blank")
        self.page.goto(f"{self.gateway}/{route}")

    def step(self, name: str) -> None:
        """Save a screenshot of the whole page as NN-name.png; a portal page must fit the screen's width."""
        if self.page.url.startswith(self.gateway):
            overflow = self.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the portal scrolls sideways by {overflow}px at step {name!r}"
        self._steps += 1
        self.page.screenshot(path=self.artifacts / f"{self._steps:02d}-{name}.png", full_page=True)

    def docs_screenshot(self, name: str) -> None:
        """Only when UPDATE_SCREENSHOTS=1: save the whole page, DOCS_WIDTH wide, as the README's
        docs/screenshots/<name>.png; the tab goes back to its own size afterwards."""
        if os.environ.get("UPDATE_SCREENSHOTS") != "1":
            return
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": DOCS_WIDTH, "height": 900})
        try:
            self.page.screenshot(path=DOCS_SCREENSHOTS / f"{name}.png", full_page=True)
        finally:
            if size:
                self.page.set_viewport_size(size)

    def allow_http_error(self, status: int, path: str) -> None:
        """The next console error for an HTTP ``status`` answer to ``path`` (on the gateway) is expected."""
        self.allowed_http_errors.append((status, f"{self.gateway}{path}"))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        failed = _FAILED_LOAD.match(message.text)
        if failed:
            status = int(failed.group(1))
            if (status, url) in self.allowed_http_errors:
                self.allowed_http_errors.remove((status, url))
                return
        self.problems.append(f"console error on {self.page.url}: {message.text} ({url})")

    def on_page_error(self, error: Error) -> None:
        self.problems.append(f"uncaught error on {self.page.url}: {error.message}")
