"""``python -m tools`` stopped before it starts, as a second shell with nothing exported would run it:
nothing at the endpoint, no sandbox running (or one that died), a setting missing, an endpoint that is
not AWS. Each is one line on stderr saying what to set, exit status 2, never a traceback, at once."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.serving import free_port
from stackdef.local import LocalSandbox, write

ROOT = Path(__file__).resolve().parents[2]


def tools(cwd: Path, *arguments: str) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tools", *arguments],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stderr, time.monotonic() - started


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture
def listening() -> Iterator[int]:
    """A port where something accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def not_aws() -> Iterator[int]:
    """A web server that is not AWS (as the simulator's port, given by mistake, would be)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_at_the_endpoint(tmp_path: Path) -> None:
    status, stderr, seconds = tools(tmp_path, "--endpoint", f"http://127.0.0.1:{free_port()}", "review", "list")
    assert status == 2
    assert "nothing answers at --endpoint" in one_line(stderr)
    assert "--sandbox" in stderr
    assert seconds < 20  # not botocore's minutes of retries


def test_no_sandbox_running_here(tmp_path: Path) -> None:
    status, stderr, _ = tools(tmp_path, "--sandbox", "review", "list")
    assert status == 2
    assert "no sandbox is running here: `make dev` writes .sandbox/env" in one_line(stderr)


def test_a_sandbox_that_stopped_without_cleaning_up(tmp_path: Path) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    write(LocalSandbox(gone, gone, gone, {"APP_TABLE_NAME": "avocette-app"}), tmp_path / ".sandbox")
    status, stderr, _ = tools(tmp_path, "--sandbox", "reconcile", "2026-11-25.csv")
    assert status == 2
    assert f"(AWS at {gone}) does not answer" in one_line(stderr)


def test_a_missing_setting_is_named(tmp_path: Path, listening: int) -> None:
    status, stderr, _ = tools(tmp_path, "--endpoint", f"http://127.0.0.1:{listening}", "review", "list")
    assert status == 2
    line = one_line(stderr)
    assert "APP_TABLE_NAME" in line and "--sandbox" in line


def test_a_missing_setting_of_reconcile(tmp_path: Path, listening: int) -> None:
    (tmp_path / "2026-11-25.csv").write_text("x\n", encoding="utf-8")
    status, stderr, _ = tools(
        tmp_path, "--endpoint", f"http://127.0.0.1:{listening}", "reconcile", "2026-11-25.csv", "--table", "t"
    )
    assert status == 2
    assert "invalid or missing settings" in one_line(stderr)


def test_an_endpoint_that_is_not_aws(tmp_path: Path, not_aws: int) -> None:
    endpoint = f"http://127.0.0.1:{not_aws}"
    status, stderr, _ = tools(tmp_path, "--endpoint", endpoint, "review", "--table", "avocette-app", "list")
    assert status == 2
    assert f"(is {endpoint} AWS" in one_line(stderr)
