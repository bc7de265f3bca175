"""stackdef.local: what `make dev` writes to .sandbox/ for a second shell and the tools, read back."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from stackdef import local

SANDBOX = local.LocalSandbox(
    "http://127.0.0.1:4000", "http://127.0.0.1:4001", "http://127.0.0.1:4002", {"APP_TABLE_NAME": "avocette-app"}
)


def test_written_then_read_back(tmp_path: Path) -> None:
    local.write(SANDBOX, tmp_path / ".sandbox")
    assert local.read(tmp_path / ".sandbox", check=False) == SANDBOX


def test_a_shell_reads_the_three_addresses(tmp_path: Path) -> None:
    local.write(SANDBOX, tmp_path / ".sandbox")
    printed = subprocess.run(
        ["/bin/sh", "-c", '. .sandbox/env && echo "$API $SIM $AWS"'],
        cwd=tmp_path,
        env={},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == "http://127.0.0.1:4000 http://127.0.0.1:4001 http://127.0.0.1:4002\n"


def test_removed_only_while_it_still_describes_this_sandbox(tmp_path: Path) -> None:
    directory = tmp_path / ".sandbox"
    local.write(SANDBOX, directory)
    other = local.LocalSandbox("http://127.0.0.1:5000", "http://127.0.0.1:5001", "http://127.0.0.1:5002")
    local.remove(other, directory)  # another sandbox's stop: not its files
    assert (directory / "env").exists()
    local.remove(SANDBOX, directory)
    assert not directory.exists()


def test_no_sandbox_and_a_dead_one_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(local.SandboxNotFoundError, match=r"no sandbox is running here"):
        local.read(tmp_path / ".sandbox")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    dead = local.LocalSandbox(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    local.write(dead, tmp_path / ".sandbox")
    with pytest.raises(local.SandboxNotFoundError, match=r"does not answer: .* start it again with `make dev`"):
        local.read(tmp_path / ".sandbox")
    (tmp_path / ".sandbox" / "env").write_text("API=javascript:x\n")
    with pytest.raises(local.SandboxNotFoundError, match=r"is not what `make dev` writes"):
        local.read(tmp_path / ".sandbox")
