"""``make soak``: the model of the money rules (test_payment_model.py) for a long run, and its figures
written to docs/reliability.md.

``SOAK_EXAMPLES`` sequences (10,000) of up to ``SOAK_STEPS`` steps (25) each, against the same code
as ``make test`` runs for 1,000 short ones. The page says when, on what, how long, what the
sequences did, and whether every invariant held: the soak rewrites its own section of
docs/reliability.md and keeps the rest of the page as it is."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reliability.md"


def main() -> int:
    examples = int(os.environ.get("SOAK_EXAMPLES", "10000"))
    steps = int(os.environ.get("SOAK_STEPS", "25"))
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "model.json"
        env = {**os.environ, "MODEL_EXAMPLES": str(examples), "MODEL_STEPS": str(steps), "MODEL_REPORT": str(report)}
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/property/test_payment_model.py", "-q", "-p", "no:cacheprovider",
             "-o", "addopts=", "--timeout", str(24 * 3600)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        figures = json.loads(report.read_text()) if report.exists() else {"events": {}}
    passed = run.returncode == 0
    output = Path(tempfile.gettempdir()) / "avocette-soak.log"
    output.write_text(run.stdout + run.stderr, encoding="utf-8")
    failure = "" if passed else _failure(run.stdout + run.stderr, run.returncode)
    section = _section(examples=examples, steps=steps, elapsed=elapsed, figures=figures, passed=passed, failure=failure)
    old = PAGE.read_text(encoding="utf-8")
    PAGE.write_text(_before_soak(old) + section + _other_sections(old), encoding="utf-8")
    sys.stdout.write(
        f"soak: {'passed' if passed else 'FAILED'} in {elapsed:.0f} s; see {PAGE.relative_to(ROOT)} "
        f"(pytest's whole output: {output})\n"
    )
    return run.returncode


def _failure(output: str, returncode: int) -> str:
    """What failed: pytest's ``E`` lines (the falsifying sequence and the broken invariant), or, when it
    printed none (a crash, a kill), the end of what it printed and how it ended."""
    lines = output.splitlines()
    errors = [line for line in lines if line.startswith("E ")]
    shown = errors or [*lines[-40:], f"(pytest ended with exit status {returncode})"]
    return "\n".join(shown)[-4000:]


def _before_soak(old: str) -> str:
    """The page up to its soak section (the model's description, written by hand), kept as it is."""
    head, found, _ = old.partition("\n## Last soak\n")
    return head.rstrip() + "\n\n" if found else old.rstrip() + "\n\n"


def _other_sections(old: str) -> str:
    """The sections after the soak's that other commands write (make mutate's), kept as they were."""
    _, found, after = old.partition("\n## Last soak\n")
    parts = after.split("\n## ")[1:] if found else []
    return "".join(f"\n## {part.rstrip()}\n" for part in parts)


def _section(*, examples: int, steps: int, elapsed: float, figures: dict, passed: bool, failure: str) -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    events = "\n".join(f"| {name} | {count:,} |" for name, count in figures.get("events", {}).items())
    counted = figures.get("events", {})
    conservation = (
        f"held at {counted.get('conservation checked', 0):,} quiet points and {counted.get('books closed', 0):,} "
        "closed books"
        if passed
        else "see the result"
    )
    verdict = "every invariant held in every sequence" if passed else "FAILED (what failed is below the table)"
    failed = "" if passed else f"\nWhat failed:\n\n```\n{failure}\n```\n"
    return f"""## Last soak

| | |
|---|---|
| date | {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} |
| machine | {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load {load} |
| sequences | {examples:,} of up to {steps} steps |
| time | {elapsed:,.0f} s |
| result | {verdict} |
| conservation | {conservation} |
{failed}
What the sequences did, in all:

| event | count |
|---|---|
{events}
"""


if __name__ == "__main__":
    raise SystemExit(main())
