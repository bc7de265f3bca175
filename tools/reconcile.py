"""``python -m tools reconcile FILE``: reconcile a local Invoice Cloud payment file by hand, with the
Lambda's own code (DESIGN §6d).

The file's name must fit the format's key (``2026-11-25.csv``): it is reconciled as if its key were
``invoicecloud/<name>``. A progress bar goes to stderr, the summary to stdout, the report beside the
file as ``<file>.report.json``; the run is recorded as the function records it, so the same file
dropped into the bucket later changes nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from avocette.invoicecloud.payment_file import get_payment_file_format
from avocette.service.reconcile import reconcile_file, record_done_locally
from avocette.service.reconcile_report import ReconcileReport
from avocette.service.reconcile_rows import ReconcileRules
from avocette.service.rowstream.report import ImportStatus
from avocette.settings import ledger, resources
from avocette.store import files, table

from tools.billing import ProgressBar, count_rows

__all__ = ["print_report", "reconcile_path"]

_SHOWN = 20


def reconcile_path(path: Path, *, table_name: str | None = None, progress: TextIO | None = None) -> ReconcileReport:
    """Reconcile ``path`` against the table of the environment (or ``table_name``); write the report
    beside it and answer it."""
    if table_name:
        os.environ["APP_TABLE_NAME"] = table_name
    resources.get_table_name.cache_clear()
    ledger.get_ledger_settings.cache_clear()
    table.dynamodb.cache_clear()  # --endpoint may have changed since a client was made
    file_format = get_payment_file_format(ledger.get_ledger_settings().ic_payment_file_format)
    key = f"invoicecloud/{path.name}"
    bar = ProgressBar(count_rows(path), progress or sys.stderr)
    rules = ReconcileRules.from_environment()
    report = reconcile_file(
        lambda: path.open(encoding=file_format.encoding, newline=""), key=key, rules=rules, progress=bar
    )
    if report.rows:
        bar.close(report.rows)
    target = path.with_name(files.report_key(path.name))
    target.write_text(report.to_json() + "\n", encoding="utf-8")
    record_done_locally(report, str(target))
    return report


def print_report(report: ReconcileReport, path: Path) -> int:
    """The summary, the first discrepancies and bad rows on stdout; the exit status (0 only when
    every row was reconciled and nothing needs a person: no mismatch, unknown payment, money
    missing from Invoice Cloud or bad row; recoveries and reversals are listed, not failures)."""
    print(report.summary())
    for discrepancy in report.discrepancies[:_SHOWN]:
        where = f"line {discrepancy.line}: " if discrepancy.line else ""
        print(f"  {where}{discrepancy.reason} payment {discrepancy.payment_id or '-'} {discrepancy.invoice or ''}")
    for problem in report.bad_rows[:_SHOWN]:
        print(f"  bad row: line {problem.row}, {problem.column}: {problem.reason}")
    print(f"report: {path.with_name(files.report_key(path.name))}")
    counts = report.counts
    attention = counts.mismatched + counts.unknown_payment + counts.missing_from_invoice_cloud + report.bad_row_count
    return 0 if report.status is ImportStatus.IMPORTED and not attention else 1
