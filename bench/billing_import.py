"""The billing import of a full file (by default 40,000 rows: 20,000 accounts, two invoices each), in this process.

Two runs of the same file, because moto keeps the whole table in this process and spends about
0.6 ms on each clause of an UpdateExpression (some 9 ms a write, where DynamoDB takes a few):
- memory: the import under tracemalloc with the writes answered at once in this process, so that
  what is measured is the importer's own memory (rows in flight, the (account, invoice) pairs a full
  file keeps, the report), not moto's table;
- throughput: the import against moto in-process, untraced: rows/s and DynamoDB calls/s, on a smaller
  file (moto takes about 27 minutes for the whole 100,000 rows; BENCH_MOTO_ACCOUNTS=50000 to do it).
Sizes: BENCH_BILLING_ACCOUNTS (default 20,000, two invoices each: `make bench` stays under ten minutes;
50,000 is the design's full file) and BENCH_MOTO_ACCOUNTS (500).
"""

from __future__ import annotations

import csv
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from avocette.biller.billing_file import COLUMNS
from avocette.service.billing_import import ImportReport, ImportRules, import_billing
from avocette.store import billing as billing_store

from bench.stack import calls_counted, moto_stack

ACCOUNTS = int(os.environ.get("BENCH_BILLING_ACCOUNTS", "20000"))
MOTO_ACCOUNTS = int(os.environ.get("BENCH_MOTO_ACCOUNTS", "500"))
INVOICES_PER_ACCOUNT = 2
FILE_NAME = "20261101T060000Z-full.csv"
MB = 1024 * 1024


def write_file(directory: Path, accounts: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for account in range(accounts):
            for invoice in range(INVOICES_PER_ACCOUNT):
                writer.writerow(
                    [
                        f"B-{account:06d}",
                        f"Bench Payer {account}",
                        f"{account} Orchard Lane",
                        "Tampa",
                        "FL",
                        "33601",
                        f"payer{account}@example.com",
                        f"REG-{account:06d}",
                        f"INV-{account:06d}-{invoice}",
                        "6",
                        "10/28/2026",
                        "11/20/2026",
                        f"{(account % 500) + invoice}.{account % 100:02d}",
                        "",
                        "true",
                        "1.00",
                        "1.00",
                    ]
                )
    return path


def _import(path: Path, progress: Callable[[int], None] | None = None) -> tuple[ImportReport, float]:
    began = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        report = import_billing(
            handle, rules=ImportRules.from_environment(), key=f"billing/{path.name}", progress=progress
        )
    return report, time.perf_counter() - began


@contextmanager
def _writes_answered_at_once() -> Iterator[None]:
    """Every write answers "written" without leaving this process (the closing Scan too)."""
    with (
        mock.patch.object(billing_store, "update_account_from_billing", lambda account, **_options: True),
        mock.patch.object(billing_store, "update_invoice_from_billing", lambda invoice, **_options: True),
        mock.patch.object(billing_store, "close_absent_invoices", lambda as_of, present, **_options: 0),
    ):
        yield


def _warm_up(directory: Path) -> None:
    """Import a few rows first: modules imported and models built on first use are not the import's."""
    small = directory / "warm-up"
    small.mkdir(exist_ok=True)
    path = small / FILE_NAME
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [COLUMNS, ["W-1", "", "", "", "", "", "", "R", "I-1", "", "", "", "1", "", "", "", ""]]
        )
    _import(path)


def measure_memory(path: Path) -> str:
    """Peak traced memory of the import, and the traced memory sampled as it goes: flat but for the
    (account, invoice) pairs a full file must keep, and each account's profile fingerprint."""
    samples: dict[int, int] = {}
    step = 25_000

    def sample(done: int) -> None:
        mark = done // step * step
        if mark and mark not in samples:
            samples[mark] = tracemalloc.get_traced_memory()[0]

    with _writes_answered_at_once():
        _warm_up(path.parent)
        tracemalloc.start()
        baseline, _ = tracemalloc.get_traced_memory()
        report, seconds = _import(path, sample)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    along = ", ".join(f"{done // 1000}k rows {(used - baseline) / MB:.1f} MB" for done, used in sorted(samples.items()))
    return (
        f"  memory (writes answered in-process, tracemalloc): peak {(peak - baseline) / MB:.1f} MB for "
        f"{report.rows:,} rows ({seconds:.0f} s traced); along the way {along}"
    )


def measure_throughput(path: Path) -> str:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with calls_counted() as calls:
        report, seconds = _import(path)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return "\n".join(
        [
            f"  against moto: {report.status.value}, accounts {report.accounts.written:,} written, invoices "
            f"{report.invoices.written:,} written, {report.invoices.closed:,} closed, {report.bad_row_count} bad rows",
            f"  {seconds:7.1f} s  {report.rows / seconds:7,.0f} rows/s  {len(calls) / seconds:7,.0f} DynamoDB calls/s"
            f" ({len(calls):,} calls)",
            f"  max RSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MB (moto's table included)",
        ]
    )


def run() -> str:
    with tempfile.TemporaryDirectory() as directory, moto_stack():
        path = write_file(Path(directory) / "memory", ACCOUNTS)
        moto_path = write_file(Path(directory) / "moto", MOTO_ACCOUNTS)
        size_mb = path.stat().st_size / MB
        rows = ACCOUNTS * INVOICES_PER_ACCOUNT
        header = f"billing import, {rows:,} rows ({ACCOUNTS:,} accounts), {size_mb:.1f} MB full file"
        moto_header = f"  throughput on {MOTO_ACCOUNTS * INVOICES_PER_ACCOUNT:,} rows ({MOTO_ACCOUNTS:,} accounts):"
        return "\n".join([header, measure_memory(path), moto_header, measure_throughput(moto_path)])
