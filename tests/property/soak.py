"""``make soak``: the model of the money rules (test_payment_model.py) for a long run, and its figures
written to docs/reliability.md.

``SOAK_EXAMPLES`` sequences (10,000) of up to ``SOAK_STEPS`` steps (25) each, against the same code
as ``make test`` runs for 1,000 short ones. The page says when, on what, how long, what the
sequences did, and whether every invariant held."""

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

INVARIANTS = (
    "each postback identity is applied at most once",
    "no invoice is credited above its bill across payments (a second charge goes to review as duplicate_payment)",
    "the credits on invoices are exactly what the payments' applied postbacks and review decisions paid",
    "a payment under review applies nothing by itself",
    "every change of status is a cell of the life-cycle table for the event that caused it",
    "a credit's approvedAt never moves, and no credit disappears",
    "no payment is credited more than Invoice Cloud charged for it",
    "a payment a person closed credits nothing",
)
# Checked at every quiet point (the postbacks sent delivered or lost, Invoice Cloud's files of every
# day read) and when every sequence closes its books (every review settled as ops would, files read).
CONSERVATION = (
    "conservation: for each Invoice Cloud payment id, what Invoice Cloud charged (net of the fee) equals what "
    "we credited plus what it took back, per payment and per invoice, unless the payment waits for a person "
    "(under review) or a person closed it"
)


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
    failure = "" if passed else "\n".join(line for line in run.stdout.splitlines() if line.startswith("E "))[:4000]
    page = _page(examples=examples, steps=steps, elapsed=elapsed, figures=figures, passed=passed, failure=failure)
    PAGE.write_text(page + _other_sections(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"soak: {'passed' if passed else 'FAILED'} in {elapsed:.0f} s; see {PAGE.relative_to(ROOT)}\n")
    return run.returncode


def _other_sections(old: str) -> str:
    """The sections after the soak's that other commands write (make mutate's), kept as they were."""
    parts = old.split("\n## ")[1:]
    return "".join(f"\n## {part.rstrip()}\n" for part in parts if not part.startswith("Last soak\n"))


def _page(*, examples: int, steps: int, elapsed: float, figures: dict, passed: bool, failure: str) -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    events = "\n".join(f"| {name} | {count:,} |" for name, count in figures.get("events", {}).items())
    invariants = "\n".join(f"- {text}" for text in INVARIANTS)
    counted = figures.get("events", {})
    conservation = (
        f"held at {counted.get('conservation checked', 0):,} quiet points and {counted.get('books closed', 0):,} "
        "closed books"
        if passed
        else "see the result"
    )
    verdict = (
        "every invariant held in every sequence" if passed else "an invariant FAILED:\n\n```\n" + failure + "\n```"
    )
    return f"""# Reliability: the model of the money rules

`tests/property/test_payment_model.py` is a hypothesis state machine over two users of one
household, two accounts and four invoices, their identifiers drawn from what the billing file
accepts (slashes a naive key would confuse, spaces, dots, invoice numbers repeated across accounts)
and their amounts equal to each other or sums of others. Each sequence starts payments, plays the
payer on the Invoice Cloud simulator (pay, decline, remove invoices, pay part, pay a page after its
session ended, pay the same bill on two open pages, pay again after a lost result), delivers the
postbacks the simulator produced (again, reformatted, late, out of order, several at once, with odd
amounts, forged), lets time pass with the expiry job, reads Invoice Cloud's payment files (several
reversals of each kind on one invoice), settles reviews as ops would (twice in one second, and
mistaken then corrected), and imports the biller's files, under every mode of the simulator for
Invoice Cloud's open questions (one postback per payment, invoice or account; which invoice number;
fee inside the amount or not, and our setting right or wrong; payment ids per attempt; amount
formats; Invoice Cloud's session outliving ours). After every step:

{invariants}

and the books balance, at every quiet point and when each sequence closes its books:

- {CONSERVATION}

`make test` runs 1,000 sequences of up to 12 steps (under a minute); `make soak` runs the long
version below and rewrites its section (`SOAK_EXAMPLES`, `SOAK_STEPS` choose its size).

## Last soak

| | |
|---|---|
| date | {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} |
| machine | {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load {load} |
| sequences | {examples:,} of up to {steps} steps |
| time | {elapsed:,.0f} s |
| result | {verdict} |
| conservation | {conservation} |

What the sequences did, in all:

| event | count |
|---|---|
{events}
"""


if __name__ == "__main__":
    raise SystemExit(main())
