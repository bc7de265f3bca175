"""The README's curl walk-through, pasted into a shell as a reader would: its blocks run in order, in one
bash, against the sandbox on a base port that is not the default (``SANDBOX_BASE_PORT``), and each line
they print must be what the README's ``# ->`` line below the command says.

``# ->`` lines: a JSON object is the fields the answer must have (any others may follow); anything else
is the line itself. ``…`` stands for any text, e.g. an id that differs on every run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.runner import DEFAULT_BASE_PORT
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


# ---- every shell block of README.md and docs/*.md, as pasted ----------------------------------------
#
# Each file's ```sh blocks run in order in one bash (`set -eu -o pipefail`), at the root of a copy of the
# repository (links to its files), from a second shell with nothing exported but PATH and HOME, while
# `SANDBOX_BASE_PORT=<a free port> make dev` runs in the first: so a block finds the sandbox only as the
# README says, by `. .sandbox/env`. A block with `# ->` lines must print exactly those lines; every block
# must succeed. A block is left out only when the line before its fence says why:
# `<!-- not run: REASON -->`; those are named below, and each must need what the sandbox cannot give.

ROOT = README.parent
_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.MULTILINE | re.DOTALL
)
_NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.+?)\s*-->\s*$")
_MARKER = "@@avocette-doc-block {}@@"
_MARKER_LINE = re.compile(r"^@@avocette-doc-block (\d+)@@$", re.MULTILINE)
# What only a deployed stack (or this very test) can do: a marked block must contain one of these.
_NEEDS_AWS = re.compile(r"\baws |\bsam |make deploy|--stack|<[A-Z][A-Za-z]*(Arn|Name)>|\bmake (dev|test)\b")
# The blocks left out, by file and first line: each one named here, so that none is left out unseen.
NOT_RUN: list[tuple[str, str, str]] = [  # (file, its first line starts with, the reason it gives)
    ("README.md", "make dev    # the whole stack on your laptop: API,", "make dev is the first shell"),
    ("README.md", ".venv/bin/python -m tools billing import path/to/2", "a deployed stack"),
    ("README.md", "aws secretsmanager put-secret-value --secret-id <I", "a deployed stack"),
    ("README.md", "make deploy ENV=dev GUIDED=1   # the first time: a", "AWS"),
    (
        "README.md",
        "export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-",
        "AWS; test_readme_trial.py runs it against moto",
    ),
    ("README.md", "STACK=avocette-payments-dev", "AWS; test_readme_trial.py runs it against moto"),
    (
        "README.md",
        "aws sesv2 create-email-identity --email-identity y",
        "AWS; test_readme_trial.py runs it against moto",
    ),
    (
        "README.md",
        "aws s3 cp sandbox/data/billing/20261101T060000Z-fu",
        "AWS; test_readme_trial.py runs it against moto",
    ),
    (
        "README.md",
        "EMAIL=you@example.com PASSWORD='Trial-Password-202",
        "AWS; test_readme_trial.py runs it against moto",
    ),
    (
        "README.md",
        "TOKEN=$(aws cognito-idp admin-initiate-auth --user",
        "AWS; test_readme_trial.py runs it against moto",
    ),
    (
        "README.md",
        'aws secretsmanager put-secret-value --secret-id "$',
        "AWS; test_readme_trial.py runs it against moto",
    ),
    ("docs/changes.md", "aws lambda invoke --function-name <ExportChangesFu", "a deployed stack"),
    ("docs/operations.md", "aws secretsmanager put-secret-value --secret-id <I", "a deployed stack"),
    ("docs/operations.md", "python -m tools postback-keys rotate --secret-id <", "a deployed stack"),
    ("docs/operations.md", "python -m tools postback-keys rotate --secret-id <", "a deployed stack"),
    ("docs/operations.md", "aws secretsmanager get-secret-value --secret-id <I", "a deployed stack"),
    ("docs/operations.md", "aws secretsmanager put-secret-value --secret-id <I", "a deployed stack"),
    ("docs/operations.md", "aws s3 cp 20261125T060000Z-full.csv s3://<BillingB", "a deployed stack"),
    ("docs/operations.md", "aws s3 cp INV-1001-1.pdf s3://<InboundBucketName>/", "a deployed stack"),
    ("docs/operations.md", "python -m tools postback-keys rotate --secret-id <", "a deployed stack"),
    ("docs/operations.md", "python -m tools review --table <AppTableName> list", "a deployed stack"),
    ("docs/operations.md", "aws s3 cp s3://<InboundBucketName>/invoicecloud/20", "a deployed stack"),
    ("docs/operations.md", "python -m tools tieout 2026-11-25 --exports-bucket", "a deployed stack"),
    ("docs/operations.md", "aws dynamodb restore-table-to-point-in-time --sour", "a deployed stack"),
    ("docs/reconciliation.md", ".venv/bin/python -m tools reconcile path/to/2026-1", "a deployed stack"),
]


@dataclass(frozen=True)
class DocBlock:
    file: str  # relative to the repository's root
    line: int  # of the opening fence
    text: str
    not_run: str | None  # why it is left out, or None

    def named_by(self, entry: tuple[str, str, str]) -> bool:
        file, start, reason = entry
        return self.file == file and self.text.startswith(start) and self.not_run == reason


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def doc_blocks(path: Path, root: Path = ROOT) -> list[DocBlock]:
    """The ```sh blocks of ``path`` in order (indented ones dedented), each with its not-run reason."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        if match["info"].strip().split(" ")[0] != "sh":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = _NOT_RUN.search(before)
        indent = len(match["indent"])
        body = "".join(line[indent:] if line[:indent].isspace() else line for line in match["body"].splitlines(True))
        found.append(
            DocBlock(
                file=str(path.relative_to(root)),
                line=text.count("\n", 0, match.start()) + 1,
                text=body,
                not_run=reason["reason"] if reason else None,
            )
        )
    return found


def test_blocks_are_found_with_their_reasons(tmp_path: Path) -> None:
    text = (
        "a\n<!-- not run: needs a stack -->\n   ```sh\n   aws s3 ls\n     two\n   ```\n"
        "```sh\necho hi\n```\n```json\n{}\n```\n"
    )
    (tmp_path / "example.md").write_text(text, encoding="utf-8")
    blocks = doc_blocks(tmp_path / "example.md", tmp_path)
    assert [(block.text, block.not_run, block.line) for block in blocks] == [
        ("aws s3 ls\n  two\n", "needs a stack", 3),
        ("echo hi\n", None, 7),
    ]


def test_only_the_named_blocks_are_left_out_and_each_needs_what_the_sandbox_cannot_give() -> None:
    left_out = [block for path in doc_files() for block in doc_blocks(path) if block.not_run]
    unnamed = list(NOT_RUN)
    for block in left_out:
        entry = next((entry for entry in unnamed if block.named_by(entry)), None)
        assert entry, f"{block.file}:{block.line} is left out ({block.not_run}), but NOT_RUN does not name it"
        unnamed.remove(entry)
        assert _NEEDS_AWS.search(block.text), f"{block.file}:{block.line} is left out but needs no AWS"
    assert not unnamed, f"NOT_RUN names blocks that are not left out: {unnamed}"
    runnable = [block for path in doc_files() for block in doc_blocks(path) if not block.not_run]
    assert len(runnable) >= 10, "the walk-throughs' blocks must run"
    for block in runnable:
        assert not re.search(r"127\.0\.0\.1:\d|localhost:\d", block.text), f"{block.file}:{block.line}: a fixed port"
        assert "SANDBOX_BASE_PORT" not in block.text, f"{block.file}:{block.line}: ports come from .sandbox/env"


def _repository_copy(target: Path) -> Path:
    """A directory that looks like the repository's root (links to its entries) but has its own
    ``.sandbox/`` and takes the files the blocks write, so that a developer's `make dev` is left alone."""
    target.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".sandbox", ".git"}:
            (target / entry.name).symlink_to(entry)
    return target


@contextmanager
def make_dev(where: Path, base: int) -> Iterator[subprocess.Popen[bytes]]:
    """`SANDBOX_BASE_PORT=<base> make dev` in ``where``, as the first shell, until it wrote .sandbox/env."""
    log = (where.parent / f"make-dev-{base}.log").open("wb")
    process = subprocess.Popen(
        [shutil.which("make") or "make", "dev"],
        cwd=where,
        env={"PATH": os.environ["PATH"], "HOME": str(where.parent), "SANDBOX_BASE_PORT": str(base)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (where / ".sandbox" / "env").exists():
            assert process.poll() is None, (where.parent / log.name).read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "make dev did not get ready in 240 s"
            time.sleep(0.5)
        yield process
    finally:
        _stop_group(process)
        log.close()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C's SIGTERM to make and the sandbox under it; wait until every process of the group is
    gone (make exits at once, the sandbox after cleaning up), then kill what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _runnable_files() -> list[str]:
    return [str(path.relative_to(ROOT)) for path in doc_files() if any(not block.not_run for block in doc_blocks(path))]


@pytest.mark.parametrize("doc", _runnable_files())
def test_every_block_runs_as_pasted_from_a_second_shell(doc: str, tmp_path: Path) -> None:
    bash, python3, curl = shutil.which("bash"), shutil.which("python3"), shutil.which("curl")
    require(bool(bash and python3 and curl and shutil.which("make")), "bash, make, python3 and curl", "install them")
    blocks = [block for block in doc_blocks(ROOT / doc) if not block.not_run]
    where = _repository_copy(tmp_path / "repository")
    script = "set -eu -o pipefail\n" + "".join(
        f"printf '\\n{_MARKER.format(index)}\\n'\n{block.text}\n" for index, block in enumerate(blocks)
    )
    base = _free_base_port()
    with make_dev(where, base) as first_shell:
        done = subprocess.run(
            [bash, "-c", script],
            cwd=where,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},  # a second shell: nothing exported
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert first_shell.poll() is None, "make dev stopped while the blocks ran"
    outputs = _outputs(done.stdout, len(blocks))
    ran = len([output for output in outputs if output is not None])
    assert done.returncode == 0, (
        f"{doc}: block at line {blocks[max(ran - 1, 0)].line} failed ({done.returncode}):\n"
        f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    problems = []
    for block, output in zip(blocks, outputs, strict=True):
        wanted = expectations(block.text)
        if wanted:
            printed = [line.rstrip() for line in (output or "").strip("\n").splitlines()]
            problems += [f"{doc}:{block.line}: {problem}" for problem in output_problems(wanted, printed)]
    assert not problems, "\n".join(problems)
    assert not (where / ".sandbox").exists(), "make dev left .sandbox/ behind when it stopped"


def output_problems(wanted: list[str], printed: list[str]) -> list[str]:
    """Where ``printed`` differs from a block's ``# ->`` lines: one line each, but a line of ``…`` alone
    stands for any number of lines (output too long to show whole, e.g. a review's details)."""
    if "…" not in wanted:
        if len(printed) != len(wanted):
            return [f"printed {len(printed)} lines, the block shows {len(wanted)}:\n" + "\n".join(printed)]
        return [
            f"line {number}: {problem}"
            for number, (expected, actual) in enumerate(zip(wanted, printed, strict=True), start=1)
            for problem in line_problems(expected, actual)
        ]

    def fits(i: int, j: int) -> bool:
        if i == len(wanted):
            return j == len(printed)
        if wanted[i] == "…":
            return any(fits(i + 1, k) for k in range(j, len(printed) + 1))
        return j < len(printed) and not line_problems(wanted[i], printed[j]) and fits(i + 1, j + 1)

    return [] if fits(0, 0) else ["the lines printed do not fit the block's:\n" + "\n".join(printed)]


def test_a_line_of_an_ellipsis_alone_stands_for_any_lines() -> None:
    assert output_problems(["a", "…", "z"], ["a", "b", "c", "z"]) == []
    assert output_problems(["a", "…", "z"], ["a", "z"]) == []
    assert output_problems(["a", "…"], ["b"]) != []
    assert output_problems(["a"], ["a", "b"]) != []


def _outputs(stdout: str, count: int) -> list[str | None]:
    """Each block's stdout, by the markers printed between them (None: the block never started)."""
    outputs: list[str | None] = [None] * count
    marks = list(_MARKER_LINE.finditer(stdout))
    for position, mark in enumerate(marks):
        end = marks[position + 1].start() if position + 1 < len(marks) else len(stdout)
        outputs[int(mark[1])] = stdout[mark.end() : end]
    return outputs
