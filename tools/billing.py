"""``python -m tools billing import FILE``: import a local billing file with the Lambda's own code.

The file's name must follow the S3 key's pattern (``20261101T060000Z-full.csv``): it is imported as
if its key were ``billing/<name>``. A progress bar goes to stderr, the summary to stdout, and the
report beside the file as ``<file>.report.json``.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from avocette.biller.billing_file import BillingKeyError, parse_key
from avocette.service.billing_import import ImportReport, ImportRules, ImportStatus, import_billing, report_key
from avocette.settings import resources
from avocette.store import table

__all__ = ["ProgressBar", "count_rows", "import_file", "print_report"]

_SHOWN_PROBLEMS = 20


class ProgressBar:
    """``rows done / total, percentage, rows/s`` on one line, redrawn with ``\\r`` a few times a second."""

    def __init__(self, total: int, stream: TextIO, *, interval: float = 0.2) -> None:
        self.total = total
        self.stream = stream
        self.interval = interval
        self.started = time.monotonic()
        self.drawn_at = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.drawn_at >= self.interval or done >= self.total:
            self.drawn_at = now
            self.draw(done, now)

    def draw(self, done: int, now: float) -> None:
        percent = 100.0 * done / self.total if self.total else 100.0
        rate = done / max(now - self.started, 1e-6)
        self.stream.write(f"\r{done:,}/{self.total:,} rows  {percent:5.1f}%  {rate:,.0f} rows/s ")
        self.stream.flush()

    def close(self, done: int) -> None:
        self.draw(done, time.monotonic())
        self.stream.write("\n")
        self.stream.flush()


def count_rows(path: Path) -> int:
    """Data rows (records, not lines: a quoted cell may span lines; blank lines are not rows)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            return max(0, sum(1 for record in csv.reader(handle) if record) - 1)
        except (UnicodeDecodeError, csv.Error):
            return 0  # the import itself says what is wrong with the file


def _valid_key(key: str) -> bool:
    try:
        parse_key(key)
    except BillingKeyError:
        return False  # the import rejects it, with a report, without reading the file
    return True


def import_file(
    path: Path, *, table_name: str | None = None, hash_key_secret: str | None = None, progress: TextIO | None = None
) -> ImportReport:
    """Import ``path`` against the table and hash key of the environment (or those given), write
    the report beside it and answer it."""
    if table_name:
        os.environ["APP_TABLE_NAME"] = table_name
    if hash_key_secret:
        os.environ["REGISTRATION_HASH_KEY_ARN"] = hash_key_secret
    resources.get_table_name.cache_clear()
    table.dynamodb.cache_clear()  # --endpoint may have changed since a client was made
    key = f"billing/{path.name}"
    bar = ProgressBar(count_rows(path) if _valid_key(key) else 0, progress or sys.stderr)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        report = import_billing(handle, key=key, rules=ImportRules.from_environment(), progress=bar)
    if report.rows or report.status is ImportStatus.IMPORTED:
        bar.close(report.rows)
    path.with_name(report_key(path.name)).write_text(report.to_json() + "\n", encoding="utf-8")
    return report


def print_report(report: ImportReport, path: Path) -> int:
    """The summary and the first problems on stdout; the exit status (0 only when IMPORTED)."""
    print(report.summary())
    for label, problems in (("bad row", report.bad_rows), ("warning", report.warnings)):
        for problem in problems[:_SHOWN_PROBLEMS]:
            print(f"  {label}: line {problem.row}, {problem.column}: {problem.reason}")
        if len(problems) > _SHOWN_PROBLEMS:
            print(f"  ... and more {label}s: see the report")
    print(f"report: {path.with_name(report_key(path.name))}")
    return 0 if report.status is ImportStatus.IMPORTED else 1
