"""``make mutate``: the modules mutmut tests, and what it made of them, printed and kept in
docs/reliability.md.

``python -m tools.mutation patterns MODULE...`` prints the mutant names of those modules for
``mutmut run`` (billing.py only its payable rule). ``python -m tools.mutation report MODULE...``
reads the run through mutmut's own commands (``mutmut results``, ``mutmut show``), prints per module
the mutants, killed, timed out, survived and the score, then every survivor with its place and diff,
and rewrites the "## Mutation testing" section of docs/reliability.md with the same figures. Each
survivor there has a line for a person ("equivalent because …", or "killed by …" once a test does);
a line someone wrote is kept while the survivor's diff stays the same. A run of some modules keeps
the lines written under the other modules' survivors (in a list of its own, which the next run of
those modules reads back), so that running one module at a time loses none of them.

It runs in .venv-mutate (mutmut's own environment) and needs only the standard library.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reliability.md"
HEADING = "## Mutation testing"
TO_EXPLAIN = "_to explain: equivalent because …, or killed by …_"
KILLED = ("killed", "timeout")
LAYER = "layers/common/"


@dataclass(frozen=True)
class Module:
    name: str
    path: str  # from the repository's root
    patterns: tuple[str, ...]  # mutmut's mutant names, as `mutmut run` matches them (fnmatch)
    scope: str = ""


def _whole(name: str) -> Module:
    return Module(name, f"{LAYER}avocette/domain/{name}.py", (f"avocette.domain.{name}.*",))


# billing.py holds the invoice's other rules too; mutmut mutates what is in functions, so the
# payable rule is payable_cents, what decides which credits a billing file reflects and how an
# account's credit is applied (its properties are not mutated: mutmut leaves decorated functions alone).
MODULES: dict[str, Module] = {
    module.name: module
    for module in (
        _whole("postbacks"),
        _whole("reconciliation"),
        _whole("review"),
        Module(
            "billing",
            f"{LAYER}avocette/domain/billing.py",
            tuple(
                f"avocette.domain.billing.*{function}__mutmut_*"
                for function in ("payable_cents", "x_reflects", "credits_reflected_by", "x_account_payable")
            ),
            scope="the payable rule: Invoice.payable_cents, reflects, Invoice.credits_reflected_by, account_payable",
        ),
    )
}


@dataclass(frozen=True)
class Mutant:
    name: str
    status: str  # as `mutmut results` says it: killed, timeout, survived, no tests, …


@dataclass(frozen=True)
class Survivor:
    mutant: Mutant
    place: str  # path:line of the changed line in the source
    diff: str


@dataclass(frozen=True)
class Run:
    """What the Makefile tells about the run, for the page."""

    seconds: int
    examples: int
    jobs: int


def parse_results(text: str) -> list[Mutant]:
    """``mutmut results --all true`` prints ``    NAME: STATUS`` a line."""
    found = []
    for line in text.splitlines():
        name, separator, status = line.strip().partition(": ")
        if separator and "__mutmut_" in name:
            found.append(Mutant(name, status.strip()))
    return found


def of_module(module: Module, mutants: Iterable[Mutant]) -> list[Mutant]:
    return [m for m in mutants if any(fnmatch.fnmatchcase(m.name, pattern) for pattern in module.patterns)]


def score(mutants: Sequence[Mutant]) -> float:
    """Killed and timed out over all the module's mutants, in percent (a mutant that hangs the
    tests is caught too: it never passes)."""
    if not mutants:
        return 0.0
    return 100 * sum(m.status in KILLED for m in mutants) / len(mutants)


def function_of(name: str) -> str:
    """``avocette.domain.billing.xǁInvoiceǁpayable_cents__mutmut_3`` -> ``payable_cents``."""
    mangled = name.rpartition(".")[2].partition("__mutmut_")[0]
    return mangled.rpartition("ǁ")[2] if "ǁ" in mangled else mangled.removeprefix("x_")


HUNK = re.compile(r"^@@ -(?P<start>\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def _first_removed(diff: str) -> tuple[int | None, str | None]:
    """The diff's first removed line: its number within the diffed text (by its hunk's header, when
    there is one) and its text, stripped."""
    number: int | None = None
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        hunk = HUNK.match(line)
        if hunk:
            number = int(hunk["start"])
        elif line.startswith("-"):
            return number, line[1:].strip()
        elif number is not None and not line.startswith("+"):
            number += 1
    return None, None


def changed_line(source: str, function: str, diff: str) -> int | None:
    """The line of ``source`` the diff's first removed line is, within ``function``. mutmut's diffs are
    of the function alone: their line numbers count from its ``def``, which places a line whose text
    the function holds more than once; without them, the first line of the function with that text."""
    at, removed = _first_removed(diff)
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            end = node.end_lineno or node.lineno
            placed = node.lineno + at - 1 if at is not None else 0
            if node.lineno <= placed <= end and lines[placed - 1].strip() == removed:
                return placed
            for number in range(node.lineno, end + 1):
                if removed is not None and lines[number - 1].strip() == removed:
                    return number
            return node.lineno
    return None


def _mutmut(mutmut: Path, *args: str) -> str:
    run = subprocess.run([str(mutmut), *args], cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
    return run.stdout


def survivor(mutmut: Path, module: Module, mutant: Mutant) -> Survivor:
    # `mutmut show` prints a first line of its own (# NAME: STATUS), then the diff.
    # Its file is named by the src link; the page names the layer's.
    shown = _mutmut(mutmut, "show", mutant.name).replace(f" src/{module.path.removeprefix(LAYER)}", f" {module.path}")
    diff = "\n".join(line for line in shown.splitlines() if not line.startswith("# ")).strip()
    line = changed_line((ROOT / module.path).read_text(encoding="utf-8"), function_of(mutant.name), diff)
    return Survivor(mutant, f"{module.path}:{line}" if line else module.path, diff)


def figures(mutants: Sequence[Mutant]) -> dict[str, int]:
    counts = Counter(m.status for m in mutants)
    return {
        "mutants": len(mutants),
        "killed": counts["killed"],
        "timed out": counts["timeout"],
        "survived": counts["survived"],
        "other": len(mutants) - counts["killed"] - counts["timeout"] - counts["survived"],
    }


def print_report(
    selected: Sequence[Module], mutants: Mapping[str, list[Mutant]], survivors: Sequence[Survivor]
) -> None:
    out = sys.stdout
    out.write(f"{'module':<18} {'mutants':>8} {'killed':>7} {'timeout':>8} {'survived':>9} {'other':>6} {'score':>7}\n")
    for module in selected:
        counts = figures(mutants[module.name])
        out.write(
            f"{module.name + '.py':<18} {counts['mutants']:>8} {counts['killed']:>7} {counts['timed out']:>8} "
            f"{counts['survived']:>9} {counts['other']:>6} {score(mutants[module.name]):>6.1f}%\n"
        )
    for found in survivors:
        out.write(f"\n{found.mutant.status}: {found.mutant.name} ({found.place})\n{found.diff}\n")


@dataclass(frozen=True)
class Explained:
    """A survivor of the page as a person explained it: its place, name, status, diff and line."""

    place: str
    name: str
    status: str
    diff: str
    why: str


ENTRY = re.compile(
    r"^#### (?P<place>[^`\n]*)`(?P<name>[^`]+)`(?: \((?P<status>[^)\n]*)\))?[^\n]*\n+```diff\n(?P<diff>.*?)\n```\n+"
    r"(?P<why>[^\n]+)$",
    re.M | re.S,
)


def explained(page: str) -> list[Explained]:
    """The survivors of the page's section under which a person wrote a line, in the page's order."""
    found = []
    for match in ENTRY.finditer(section(page)):
        why = match["why"].strip()
        if why != TO_EXPLAIN:
            status = (match["status"] or "survived").removesuffix(EARLIER)
            found.append(Explained(match["place"].strip(), match["name"], status, match["diff"].strip(), why))
    return found


def explanations(page: str) -> dict[tuple[str, str], str]:
    """The lines people wrote under survivors in the page's section, by (mutant name, diff)."""
    return {(entry.name, entry.diff): entry.why for entry in explained(page)}


EARLIER = ", an earlier run"


def kept_elsewhere(page: str, selected: Sequence[Module]) -> list[Explained]:
    """What people wrote under the survivors of modules this run does not test: kept as it was."""
    return [
        entry
        for entry in explained(page)
        if not any(of_module(module, [Mutant(entry.name, "")]) for module in selected)
    ]


def _bounds(page: str) -> tuple[int, int] | None:
    """Where the page's mutation section starts (its heading) and ends (the next "## " heading)."""
    start = 0 if page.startswith(HEADING + "\n") else page.find(f"\n{HEADING}\n") + 1
    if start == 0 and not page.startswith(HEADING + "\n"):
        return None
    end = page.find("\n## ", start)
    return start, end + 1 if end >= 0 else len(page)


def section(page: str) -> str:
    """The page's "## Mutation testing" section, heading included, up to the next "## " heading."""
    bounds = _bounds(page)
    return page[bounds[0] : bounds[1]] if bounds else ""


def with_section(page: str, text: str) -> str:
    """``page`` with its mutation section replaced by ``text`` (or added at its end); the rest as it was."""
    bounds = _bounds(page)
    if bounds is None:
        return page.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    before, after = page[: bounds[0]], page[bounds[1] :]
    return before + text.rstrip("\n") + "\n" + ("\n" + after if after else "")


def render(
    selected: Sequence[Module],
    mutants: Mapping[str, list[Mutant]],
    survivors: Sequence[Survivor],
    run: Run,
    kept: Mapping[tuple[str, str], str],
    *,
    elsewhere: Sequence[Explained] = (),
) -> str:
    rows = []
    for module in selected:
        counts = figures(mutants[module.name])
        name = f"`{module.name}.py`" + (f" ({module.scope})" if module.scope else "")
        rows.append(
            f"| {name} | {counts['mutants']} | {counts['killed']} | {counts['timed out']} | {counts['survived']} "
            f"| {counts['other']} | {score(mutants[module.name]):.1f} % |"
        )
    if len(selected) > 1:
        every = [m for module in selected for m in mutants[module.name]]
        counts = figures(every)
        rows.append(
            f"| all | {counts['mutants']} | {counts['killed']} | {counts['timed out']} | {counts['survived']} "
            f"| {counts['other']} | {score(every):.1f} % |"
        )
    entries = []
    for found in survivors:
        why = kept.get((found.mutant.name, found.diff), TO_EXPLAIN)
        entries.append(
            f"#### {found.place} `{found.mutant.name}` ({found.mutant.status})\n\n```diff\n{found.diff}\n```\n\n{why}\n"
        )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    table = "\n".join(rows)
    listing = "\n".join(entries) if entries else "None.\n"
    if elsewhere:
        listing += (
            "\n### Survivors of the modules this run did not test\n\n"
            "As the last run of their module left them, with what was written under each; the next run of\n"
            "their module places each again under its survivor, or drops it once no mutant has that diff.\n\n"
        )
        listing += "\n".join(
            f"#### {entry.place + ' ' if entry.place else ''}`{entry.name}` ({entry.status}{EARLIER})\n\n"
            f"```diff\n{entry.diff}\n```\n\n{entry.why}\n"
            for entry in elsewhere
        )
    return f"""{HEADING}

`make mutate` runs [mutmut](https://github.com/boxed/mutmut) over the money rules: `postbacks.py`,
`reconciliation.py`, `review.py` and the payable rule of `billing.py` (layers/common/avocette/domain).
Each mutant is one small change in one function (a `<` made `<=`, a number plus one, a condition
negated, a value made `None`, …); it is killed when a test fails with it. The tests are those of
pyproject.toml's `[tool.mutmut]`: the unit tests of these rules, and the model of the money rules
(`tests/property/test_payment_model.py`) at `MUTATE_EXAMPLES` sequences with hypothesis seed 0 and no
shrinking. Per mutant mutmut runs only the tests that called its function in a first pass over them
all, fastest first, until one fails, and stops it after 3 × (those tests' time + 5 s) (timed out).
The score is (killed + timed out) / mutants; "other" is a mutant no test reached (no tests) or whose
run crashed. `make mutate MUTATE_MODULES=review` runs one module (the names are those of
`tools/mutation.py`); `mutmut show NAME` shows a mutant, `mutmut browse` all of them
(in .venv-mutate). Each run rewrites this section: under each survivor, say in one line why it lives
("equivalent because …", or "killed by …" once a test does); that line is kept while the mutant's diff
stays the same, and a run of some modules keeps those written under the other modules' survivors.

| | |
|---|---|
| date | {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} |
| machine | {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load {load} |
| mutmut | {_version("mutmut")}, {run.jobs} at once |
| modules | {", ".join(module.name for module in selected)} |
| model | {run.examples} sequences a mutant |
| time | {run.seconds:,} s |

| module | mutants | killed | timed out | survived | other | score |
|---|---:|---:|---:|---:|---:|---:|
{table}

### Survivors

{listing}"""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def report(names: Sequence[str], run: Run, mutmut: Path) -> int:
    selected = [MODULES[name] for name in names]
    everything = parse_results(_mutmut(mutmut, "results", "--all", "true"))
    mutants = {module.name: of_module(module, everything) for module in selected}
    unchecked = [m.name for module in selected for m in mutants[module.name] if m.status == "not checked"]
    if unchecked:
        sys.stderr.write(f"{len(unchecked)} mutants were never run (an interrupted run?), e.g. {unchecked[0]}\n")
    todo = [(module, m) for module in selected for m in mutants[module.name] if m.status not in KILLED]
    # One `mutmut show` a survivor, each a process of its own: a few at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        survivors = list(pool.map(lambda pair: survivor(mutmut, *pair), todo))
    print_report(selected, mutants, survivors)
    page = PAGE.read_text(encoding="utf-8")
    text = render(selected, mutants, survivors, run, explanations(page), elsewhere=kept_elsewhere(page, selected))
    PAGE.write_text(with_section(page, text), encoding="utf-8")
    sys.stdout.write(f"\nwritten to {PAGE.relative_to(ROOT)} ({HEADING[3:]})\n")
    return 1 if unchecked else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    patterns = commands.add_parser("patterns", help="the mutant names of MODULEs, for mutmut run")
    patterns.add_argument("modules", nargs="+", choices=sorted(MODULES), metavar="MODULE")
    reporting = commands.add_parser("report", help="print the run's figures and write them to docs/reliability.md")
    reporting.add_argument("modules", nargs="+", choices=sorted(MODULES), metavar="MODULE")
    reporting.add_argument("--seconds", type=int, default=0, help="how long the run took")
    reporting.add_argument("--examples", type=int, default=0, help="the model's sequences a mutant")
    reporting.add_argument("--jobs", type=int, default=0, help="mutants run at once")
    reporting.add_argument(
        "--mutmut", type=Path, default=Path(sys.executable).with_name("mutmut"), help="mutmut's command"
    )
    args = parser.parse_args(argv)
    if args.command == "patterns":
        sys.stdout.write("\n".join(pattern for name in args.modules for pattern in MODULES[name].patterns) + "\n")
        return 0
    return report(args.modules, Run(seconds=args.seconds, examples=args.examples, jobs=args.jobs), args.mutmut)


if __name__ == "__main__":
    raise SystemExit(main())
