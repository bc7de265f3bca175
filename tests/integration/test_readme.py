"""The README's curl walk-through, pasted into a shell as a reader would: its blocks run in order, in one
bash, against the sandbox on a base port that is not the default (``SANDBOX_BASE_PORT``), and each line
they print must be what the README's ``# ->`` line below the command says.

``# ->`` lines: a JSON object is the fields the answer must have (any others may follow); anything else
is the line itself. ``…`` stands for any text, e.g. an id that differs on every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.runner import DEFAULT_BASE_PORT, Sandbox, SandboxPorts
from tests.environment import require

README = Path(__file__).resolve().parents[2] / "README.md"
WALK_THROUGH = ("### Walk through a payment with curl", "### See it in the browser")
_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_EXPECTATION = "# -> "
_CONTINUATION = re.compile(r"^#\s{3,}\S")


def walk_through_blocks(text: str) -> list[str]:
    start, end = (text.index(heading) for heading in WALK_THROUGH)
    return _BLOCK.findall(text[start:end])


def expectations(block: str) -> list[str]:
    """The ``# ->`` lines of a block, each joined with the comment lines that continue it."""
    found: list[str] = []
    continuing = False
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith(_EXPECTATION):
            found.append(stripped.removeprefix(_EXPECTATION))
            continuing = True
        elif continuing and _CONTINUATION.match(stripped):
            found[-1] += " " + stripped.lstrip("#").strip()
        else:
            continuing = False
    return found


def _text_pattern(expected: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in expected.split("…")) + "$", re.DOTALL)


def _fits(expected: Any, actual: Any, where: str) -> list[str]:
    """Where ``actual`` differs from ``expected`` (objects: a subset; strings: ``…`` for any text)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = [f"{where}.{key}: missing" for key in expected if key not in actual]
        for key, value in expected.items():
            if key in actual:
                problems += _fits(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {actual!r}"]
        return [
            problem
            for index, item in enumerate(expected)
            for problem in _fits(item, actual[index], f"{where}[{index}]")
        ]
    if isinstance(expected, str) and isinstance(actual, str):
        return [] if _text_pattern(expected).match(actual) else [f"{where}: expected {expected!r}, got {actual!r}"]
    if expected == actual and type(expected) is type(actual):
        return []
    return [f"{where}: expected {expected!r}, got {actual!r}"]


def line_problems(expected: str, actual: str) -> list[str]:
    if expected.startswith("{"):
        try:
            answer = json.loads(actual)
        except json.JSONDecodeError:
            return [f"expected a JSON answer like {expected}, got {actual!r}"]
        return _fits(json.loads(expected), answer, "answer")
    return [] if _text_pattern(expected).match(actual) else [f"expected {expected!r}, got {actual!r}"]


# ---- the parsing itself, so that a README the test cannot read fails rather than passes -----------


def test_the_walk_through_has_blocks_and_expectations() -> None:
    blocks = walk_through_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, blocks
    assert sum(len(expectations(block)) for block in blocks) >= 10
    for block in blocks:
        assert "127.0.0.1:3001" not in block and "127.0.0.1:3000" not in block, "a hard-coded port: " + block


def test_expectations_compare_fields_and_wildcards() -> None:
    assert line_problems('{"a": "x-…", "b": true}', '{"a": "x-42", "b": true, "c": 1}') == []
    assert line_problems('{"a": "x-…"}', '{"a": "y-42"}') == ["answer.a: expected 'x-…', got 'y-42'"]
    assert line_problems('{"b": true}', '{"b": "true"}') == ["answer.b: expected True, got 'true'"]
    assert line_problems('{"a": 1}', "not json") == ["expected a JSON answer like {\"a\": 1}, got 'not json'"]
    assert line_problems("200 429", "200 429") == []
    assert line_problems("200 429", "200 200") == ["expected '200 429', got '200 200'"]
    block = '# -> {"a": 1,\n#     "b": 2}\n# 3. not a continuation\n#    nor this\n'
    assert expectations(block) == ['{"a": 1, "b": 2}']


# ---- the README against the sandbox ------------------------------------------------------------------


def _free_base_port() -> int:
    """A base port, not the default, whose three ports (API, simulator, AWS) are free."""
    for base in range(DEFAULT_BASE_PORT + 1937, DEFAULT_BASE_PORT + 30_000, 7):
        sockets = []
        try:
            for port in range(base, base + 3):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no three free ports in a row")


@pytest.fixture(scope="module")
def sandbox_on_a_base_port() -> Iterator[int]:
    base = _free_base_port()
    running = Sandbox(SandboxPorts.from_base(base))
    running.start()
    try:
        yield base
    finally:
        running.stop()


def test_the_readme_walk_through_answers_as_it_says(sandbox_on_a_base_port: int, tmp_path: Path) -> None:
    bash, python3, curl = shutil.which("bash"), shutil.which("python3"), shutil.which("curl")
    require(bool(bash and python3 and curl), "bash, python3 and curl", "install them to run the README's blocks")
    blocks = walk_through_blocks(README.read_text(encoding="utf-8"))
    script = "set -eu -o pipefail\n" + "\n".join(blocks)
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SANDBOX_BASE_PORT": str(sandbox_on_a_base_port),
    }
    done = subprocess.run(
        [bash, "-c", script], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"the walk-through failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    printed = [line.rstrip() for line in done.stdout.splitlines()]
    wanted = [expected for block in blocks for expected in expectations(block)]
    assert len(printed) == len(wanted), f"printed {len(printed)} lines, the README shows {len(wanted)}:\n{done.stdout}"
    problems = [
        f"line {number}: {problem}"
        for number, (expected, actual) in enumerate(zip(wanted, printed, strict=True), start=1)
        for problem in line_problems(expected, actual)
    ]
    assert not problems, "\n".join(problems)
