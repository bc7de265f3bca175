"""docs/reconciliation.md's walk-through of the books, pasted into a shell as a reader would: its blocks
run in order, in one bash, at the repository's root, against the sandbox on a base port that is not the
default (``SANDBOX_BASE_PORT``), and each line they print must be what its ``# ->`` line says. The
machinery (blocks, expectations, wildcards, a free base port) is the README's (test_readme.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.runner import Sandbox, SandboxPorts
from tests.environment import require
from tests.integration.test_readme import _BLOCK, _free_base_port, expectations, line_problems

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reconciliation.md"
HEADING = "## Walk through the books in the sandbox"


def walk_through_blocks(text: str) -> list[str]:
    """The ``sh`` blocks from the walk-through's heading to the next heading of its level (or the end)."""
    start = text.index(HEADING)
    following = re.search(r"^## ", text[start + len(HEADING) :], re.MULTILINE)
    end = start + len(HEADING) + following.start() if following else len(text)
    return _BLOCK.findall(text[start:end])


def test_the_walk_through_has_blocks_and_expectations_and_no_fixed_port() -> None:
    blocks = walk_through_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, blocks
    assert sum(len(expectations(block)) for block in blocks) >= 20
    for block in blocks:
        assert not re.search(r"127\.0\.0\.1:\d", block), "a hard-coded port: " + block
    assert "SANDBOX_BASE_PORT" in blocks[0]


@pytest.fixture(scope="module")
def sandbox_on_a_base_port() -> Iterator[int]:
    base = _free_base_port()
    running = Sandbox(SandboxPorts.from_base(base))
    running.start()
    try:
        yield base
    finally:
        running.stop()


def test_the_walk_through_of_the_books_answers_as_it_says(sandbox_on_a_base_port: int, tmp_path: Path) -> None:
    bash, python3, curl = shutil.which("bash"), shutil.which("python3"), shutil.which("curl")
    require(bool(bash and python3 and curl), "bash, python3 and curl", "install them to run the doc's blocks")
    blocks = walk_through_blocks(DOC.read_text(encoding="utf-8"))
    script = "set -eu -o pipefail\n" + "\n".join(blocks)
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SANDBOX_BASE_PORT": str(sandbox_on_a_base_port),
    }
    done = subprocess.run(
        [bash, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"the walk-through failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    printed = [line.rstrip() for line in done.stdout.splitlines()]
    wanted = [expected for block in blocks for expected in expectations(block)]
    assert len(printed) == len(wanted), f"printed {len(printed)} lines, the doc shows {len(wanted)}:\n{done.stdout}"
    problems = [
        f"line {number}: {problem}"
        for number, (expected, actual) in enumerate(zip(wanted, printed, strict=True), start=1)
        for problem in line_problems(expected, actual)
    ]
    assert not problems, "\n".join(problems)
