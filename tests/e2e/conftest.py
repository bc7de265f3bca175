"""Browser tests: the demo portal and Invoice Cloud's simulated pages in Debian's Chromium, driven by
Playwright, against the sandbox started in this process on free ports.

Every test fails on any uncaught page error and on any console error it did not announce. The only
console errors allowed are HTTP error answers the test expects from the API (Chromium logs "Failed to
load resource" for every fetch answered 4xx/5xx, e.g. GET /accounts answering 403
registration_required), declared with :meth:`BrowserRun.allow_http_error`, once per declaration.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

from sandbox.runner import Sandbox, SandboxPorts
from tests import environment
from tests.e2e.browsing import BrowserRun

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = environment.chromium()
    environment.require(
        path is not None,
        "Chromium (for the browser tests)",
        "install Debian's chromium package (apt-get install chromium)",
    )
    assert path is not None
    return path


@pytest.fixture(scope="module")
def sandbox(chromium_path: str) -> Iterator[Sandbox]:
    """The whole stack (moto, the Invoice Cloud simulator, the gateway serving the portal)."""
    running = Sandbox(SandboxPorts.free())
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def open_browser(
    browser: Browser, sandbox: Sandbox, request: pytest.FixtureRequest
) -> Iterator[Callable[[dict[str, Any]], BrowserRun]]:
    """``open_browser(PHONE)`` or ``open_browser(DESKTOP)``: a fresh context (no storage shared with
    other tests) and its page. At the end: no uncaught error and no unexpected console error."""
    artifacts = ARTIFACTS / request.node.name
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    contexts: list[BrowserContext] = []
    runs: list[BrowserRun] = []

    def opened(device: dict[str, Any]) -> BrowserRun:
        context = browser.new_context(**device)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        run = BrowserRun(page=page, gateway=sandbox.gateway_url, simulator=sandbox.simulator_url, artifacts=artifacts)
        page.on("console", run.on_console)
        page.on("pageerror", run.on_page_error)
        runs.append(run)
        return run

    yield opened
    for context in contexts:
        context.close()
    problems = [problem for run in runs for problem in run.problems]
    assert not problems, "the browser reported errors:\n" + "\n".join(problems)
