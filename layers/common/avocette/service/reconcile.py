"""Reconciling Invoice Cloud's daily payment file (DESIGN §6d), streamed like the billing import.

Each PAYMENT row goes through the postback rules as a postback recovered from the file: money we
applied already is matched (and its ledger entry confirmed), a lost postback is applied now, a
different amount puts the payment under review. Each VOID, ACH_RETURN or CHARGEBACK row is recorded
once (``REVERSAL#``) and takes its money back from the payment's credits, the invoices due again,
the payer told by email. After the rows, the applied postbacks of ``RECONCILE_MISSING_DAYS`` before
the file's day that no file listed are reported: money that may never have moved.

A report goes beside the file (``<key>.report.json``: counts and discrepancies by ids, never payer
details) and a ``RECON#`` item records the file done: the same file again changes nothing, and a
row that two files list changes nothing the second time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.domain.reconciliation import PaymentFileRow, RowKind
from avocette.invoicecloud.payment_file import PaymentFileFormat, get_payment_file_format
from avocette.service.reconcile_report import ReconcileCounts, ReconcileReport, Tallies
from avocette.service.reconcile_rows import PaymentFileRows, ReconcileRules
from avocette.service.rowstream.report import ImportStatus
from avocette.service.rowstream.stream import stream_rows
from avocette.store import files, reconciliations

__all__ = ["reconcile_file", "reconcile_s3_object", "record_done_locally"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()


# ---- running one file ---------------------------------------------------------------------------


def _record_done(report: ReconcileReport, report_key: str) -> None:
    if report.day is None or report.status is not ImportStatus.IMPORTED:
        return
    reconciliations.record_reconciled_file(
        day=report.day, key=report.key, report_key=report_key, rows=report.rows,
        counts=report.counts.model_dump(by_alias=True), finished_at=report.finished_at,
    )  # fmt: skip


Opener = Callable[[], AbstractContextManager[Iterable[str]]]


def _told_by_file(opener: Opener, file_format: PaymentFileFormat) -> dict[str, dict[str, int]]:
    """A first pass over the file: what its PAYMENT rows say each Invoice Cloud payment id paid on
    each invoice (a few numbers per payment, however long the file). A row alone cannot tell that a
    payment id's money went elsewhere in the payment than the file says; the whole file can."""
    told: dict[str, dict[str, int]] = {}
    with opener() as lines:
        reader = csv.reader(lines, delimiter=file_format.delimiter, quotechar=file_format.quotechar)
        try:
            header = [name.strip().removeprefix("\ufeff") for name in next(reader, [])]
            for values in reader:
                if len(values) != len(header):
                    continue
                row = file_format.read_row(reader.line_num, dict(zip(header, values, strict=True)))
                if isinstance(row, PaymentFileRow) and row.kind is RowKind.PAYMENT:
                    by_invoice = told.setdefault(row.payment_guid, {})
                    by_invoice[row.ref] = by_invoice.get(row.ref, 0) + row.cents
        except (csv.Error, UnicodeDecodeError):
            return told  # the second pass reports what is wrong with the file
    return told


def reconcile_file(
    opener: Opener, *, key: str, rules: ReconcileRules, progress: Callable[[int], None] | None = None
) -> ReconcileReport:
    """Reconcile one payment file; ``opener()`` opens it for reading (text with its line ends), as a
    context manager: it is read twice, streaming both times."""
    started = clock.utc_now()
    settings = rules.ledger
    file_format = get_payment_file_format(settings.ic_payment_file_format)
    day = file_format.day_of(key)
    tallies = Tallies()
    report_args: dict[str, Any] = {"key": key, "day": day, "format": file_format.format, "started_at": started}
    refused = _day_problem(day, file_format, settings.reconcile_missing_days)
    if refused is not None:
        return _finish(
            ReconcileReport(**report_args, status=ImportStatus.REJECTED, reason=refused, finished_at=clock.utc_now())
        )
    importer = PaymentFileRows(key, file_format, tallies, _told_by_file(opener, file_format), rules)
    with opener() as lines:
        outcome = stream_rows(
            importer, lines, key=key, logger=logger, progress=progress,
            delimiter=file_format.delimiter, quotechar=file_format.quotechar,
        )  # fmt: skip
    run = outcome.run
    report = ReconcileReport(
        **report_args,
        status=outcome.status,
        reason=outcome.reason,
        rows=run.rows,
        counts=ReconcileCounts(**tallies.counts),
        discrepancies=tallies.discrepancies,
        discrepancies_omitted=tallies.omitted,
        bad_rows=run.bad_rows.listed,
        bad_rows_omitted=run.bad_rows.omitted,
        warnings=run.warnings.listed,
        warnings_omitted=run.warnings.omitted,
        finished_at=clock.utc_now(),
    )
    return _finish(report)


def _day_problem(day: date | None, file_format: PaymentFileFormat, missing_days: int) -> str | None:
    """Why a file cannot be reconciled for its key's day: none, or one so early that the look-back of
    :meth:`_PaymentFileRows.finish` would fall before ``date.min`` (any later day, 9999-12-31 too, is fine)."""
    if day is None:
        return f"the key does not fit the format {file_format.format} (invoicecloud/<YYYY-MM-DD>...csv)"
    if day.toordinal() <= missing_days:
        return (
            f"the file's day {day} is too early: the check for postbacks Invoice Cloud never listed looks back "
            f"{missing_days} days, before the first day of the calendar"
        )
    return None


def _finish(report: ReconcileReport) -> ReconcileReport:
    if report.status is ImportStatus.REJECTED:
        metrics.add_metric(name="PaymentFileRejected", unit=MetricUnit.Count, value=1)
    if report.bad_row_count:
        metrics.add_metric(name="ReconciliationMismatch", unit=MetricUnit.Count, value=report.bad_row_count)
    logger.info(
        "Reconciliation finished",
        extra={"key": report.key, "status": report.status.value, "rows": report.rows, **report.counts.model_dump()},
    )
    return report


def reconcile_s3_object(
    bucket: str, key: str, *, rules: ReconcileRules, version_id: str | None = None
) -> ReconcileReport:
    """Reconcile ``s3://bucket/key``, write its report beside it and record it done."""
    file_format = get_payment_file_format(rules.ledger.ic_payment_file_format)

    def opener() -> AbstractContextManager[Iterable[str]]:
        return files.open_text(bucket, key, encoding=file_format.encoding, version_id=version_id)

    report = reconcile_file(opener, key=key, rules=rules)
    report_key = files.put_report(bucket, key, report.to_json())
    _record_done(report, report_key)
    return report


def record_done_locally(report: ReconcileReport, report_path: str) -> None:
    """What ``python -m tools reconcile`` records after a file reconciled by hand."""
    _record_done(report, report_path)
