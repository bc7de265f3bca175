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
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from avocette import SERVICE_NAME, clock, errors
from avocette.api.common import CamelModel, optional
from avocette.config import get_invoice_cloud_secret, get_ledger_settings, get_portal_settings, get_postback_settings
from avocette.domain.billing import credit_id
from avocette.domain.files import RowProblem
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import receipt_reference
from avocette.domain.postbacks import Outcome
from avocette.domain.reconciliation import PaymentFileRow, ReversalOutcome, RowKind, postback_from_row
from avocette.invoicecloud.payment_file import PaymentFileFormat, get_payment_file_format
from avocette.mail import templates as emails
from avocette.mail.send import send_email
from avocette.service.postbacks import apply_postback
from avocette.service.reversals import apply_reversal
from avocette.service.rowstream.report import ImportStatus, Problem, ReportProblems, Timestamp
from avocette.service.rowstream.stream import ImportStopped, RowImporter, Run, Tally, stream_rows
from avocette.store import files, reconciliations
from avocette.store import ledger as ledger_store
from avocette.store import payments as payments_store
from avocette.store.table import dynamodb

__all__ = ["Discrepancy", "ReconcileCounts", "ReconcileReport", "reconcile_file", "reconcile_s3_object"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

_ATTEMPTS = 4
_KIND_WORDS = {"VOID": "Void", "ACH_RETURN": "AchReturn", "CHARGEBACK": "Chargeback"}


class Discrepancy(CamelModel):
    """One thing ops must look at, by identifiers only."""

    reason: str
    line: int | None = optional()
    payment_id: str | None = optional()
    payment_guid: str | None = optional()
    invoice: str | None = optional("ACCOUNT/INVOICE")
    at: Timestamp | None = optional()


class ReconcileCounts(CamelModel):
    matched: int = 0
    recovered: int = Field(0, description="PAYMENT rows whose postback never arrived, applied now.")
    mismatched: int = Field(0, description="Rows that put their payment under review.")
    under_review: int = Field(0, description="PAYMENT rows of payments already under review: recorded.")
    reversed: int = 0
    reversals_recorded: int = Field(0, description="Reversals of payments under review, reversed or closed.")
    seen_before: int = Field(0, description="Reversals an earlier file already listed: nothing changed.")
    unknown_payment: int = 0
    missing_from_invoice_cloud: int = 0


class ReconcileReport(ReportProblems, CamelModel):
    """What a reconciliation did, written beside the file as ``<key>.report.json``."""

    key: str
    day: date | None
    format: str
    status: ImportStatus
    reason: str | None = optional()
    rows: int = 0
    counts: ReconcileCounts = Field(default_factory=ReconcileCounts)
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    discrepancies_omitted: int = 0
    bad_rows: list[Problem] = Field(default_factory=list)
    bad_rows_omitted: int = 0
    warnings: list[Problem] = Field(default_factory=list)
    warnings_omitted: int = 0
    started_at: Timestamp
    finished_at: Timestamp

    def summary(self) -> str:
        counts = self.counts
        return (
            f"{self.status.value}: {self.rows} rows; matched {counts.matched}, recovered {counts.recovered}, "
            f"mismatched {counts.mismatched}, reversed {counts.reversed}, unknown payments {counts.unknown_payment}, "
            f"missing from Invoice Cloud {counts.missing_from_invoice_cloud}, bad rows {self.bad_row_count}"
            + (f" ({self.reason})" if self.reason else "")
        )


@dataclass
class _Tallies:
    """The counts and discrepancies, from the pool's threads."""

    counts: Counter[str] = field(default_factory=Counter)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    omitted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, discrepancy: Discrepancy | None = None) -> None:
        with self.lock:
            self.counts[name] += 1
            if discrepancy is not None:
                if len(self.discrepancies) < 1000:
                    self.discrepancies.append(discrepancy)
                else:
                    self.omitted += 1


class _PaymentFileRows(RowImporter):
    """One Invoice Cloud payment file, by its format."""

    label = "Reconciliation"
    thread_name_prefix = "reconcile"

    def __init__(
        self, key: str, file_format: PaymentFileFormat, tallies: _Tallies, told: dict[str, dict[str, int]]
    ) -> None:
        self.key = key
        self.format = file_format
        self.tallies = tallies
        self.told = told
        self.header: list[str] = []
        self.tally = Tally()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        # The payers to tell, once per payment and kind when the file is done: (payment id, kind) ->
        # (email, the payment's amount before the file, rows reversed).
        self._notices: dict[tuple[str, str], tuple[str, int, list[PaymentFileRow]]] = {}
        self._paid_at: dict[str, datetime] = {}  # when each payment noticed was made, for its email
        self._seen: Counter[tuple[str, ...]] = Counter()

    def read_header(self, names: list[str] | None) -> None:
        if not names:
            raise ImportStopped(ImportStatus.REJECTED, "the file is empty: no header row", "header")
        self.header = [name.strip() for name in names]
        problems = self.format.header_problems(self.header)
        if problems:
            raise ImportStopped(
                ImportStatus.REJECTED,
                f"the header does not match the format {self.format.format}: " + "; ".join(problems),
                "header",
            )

    def prepare(self) -> None:
        portal = get_portal_settings()
        self.type_ids = get_postback_settings().ic_payment_type_ids
        self.biller_guid = get_invoice_cloud_secret().biller_guid
        self.biller_name = portal.biller_name
        self.portal_url = portal.portal_url
        self.time_zone = portal.time_zone
        dynamodb()  # the clients are made in this thread, before the pool's use them

    def read_row(self, run: Run, line: int, values: list[str]) -> None:
        if len(values) != len(self.header):
            run.bad_row([RowProblem(line, "(row)", f"has {len(values)} cells, the header {len(self.header)}")])
            return
        read = self.format.read_row(line, dict(zip(self.header, values, strict=True)))
        if isinstance(read, list):
            run.bad_row(read)
            return
        # Rows are read in the file's order, one at a time: the n-th of identical rows is always the n-th.
        self._seen[read.sameness] += 1
        row = replace(read, ordinal=self._seen[read.sameness])
        run.submit(lambda: self._locked(row), self.tally, row=True)

    def _locked(self, row: PaymentFileRow) -> bool:
        # Rows of one payment one after another (each reads the payment and writes it at its version).
        with self._locks_lock:
            lock = self._locks.setdefault(row.biller_reference, threading.Lock())
        with lock:
            if row.kind is RowKind.PAYMENT:
                return self._payment_row(row)
            return self._reversal_row(row)

    # ---- PAYMENT rows -------------------------------------------------------------------------

    def _payment_row(self, row: PaymentFileRow) -> bool:
        postback = postback_from_row(row, payment_type_ids=self.type_ids)
        fields = {"source": "Invoice Cloud payment file", "file": self.key, "line": str(row.line)}
        try:
            result = apply_postback(
                row.biller_reference,
                postback,
                fields,
                source="file",
                biller_guid=self.biller_guid,
                file_key=self.key,
                told_by_file=self.told.get(row.payment_guid, {}),
            )
        except errors.PaymentNotFoundError:
            self._unknown(row)
            return False
        if result.outcome is Outcome.DUPLICATE:
            self.tallies.count("matched")
            self._confirm(row)
            return False
        if result.outcome is Outcome.APPLIED:
            self.tallies.count("recovered", self._at(row, "recovered_postback"))
            metrics.add_metric(name="PostbackRecovered", unit=MetricUnit.Count, value=1)
            return True
        if result.outcome is Outcome.RECORDED:
            self.tallies.count("under_review", self._at(row, "payment_under_review"))
            return True
        self.tallies.count("mismatched", self._at(row, result.reason or "reconciliation_mismatch"))
        metrics.add_metric(name="ReconciliationMismatch", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="PaymentNeedsReview", unit=MetricUnit.Count, value=1)
        return True

    def _confirm(self, row: PaymentFileRow) -> None:
        """Mark the ledger entries of the money this row confirms (what the missing check looks for)."""
        record = payments_store.get_payment_record(row.biller_reference)
        for recorded in record.postbacks.values():
            if (
                recorded.outcome is Outcome.APPLIED
                and recorded.postback.payment_guid == row.payment_guid
                and row.ref in recorded.allocation
                and recorded.source != "file"
            ):
                entry = LedgerEntry(
                    at=recorded.received_at,
                    credit_key=credit_id(row.biller_reference, recorded.key),
                    payment_id=row.biller_reference,
                    kind="PAYMENT",
                    payment_guid=row.payment_guid,
                    method=None,
                    source=recorded.source,
                )
                ledger_store.mark_confirmed(entry, self.key)
        for review in record.reviews:
            if review.get("creditKey") and review.get("paymentGuid") == row.payment_guid:
                at = clock.parse_timestamp(review["at"])
                entry = LedgerEntry(
                    at=at,
                    credit_key=review["creditKey"],
                    payment_id=row.biller_reference,
                    kind="PAYMENT",
                    payment_guid=row.payment_guid,
                    method=None,
                    source="review",
                )
                ledger_store.mark_confirmed(entry, self.key)

    # ---- reversals ----------------------------------------------------------------------------

    def _reversal_row(self, row: PaymentFileRow) -> bool:
        try:
            applied = apply_reversal(row, file_key=self.key)
        except errors.PaymentNotFoundError:
            self._unknown(row)
            return False
        if applied is None:
            self.tallies.count("seen_before")
            return False
        self._reversed(row, applied.outcome)
        payment = applied.before
        if applied.outcome is ReversalOutcome.REVERSED and payment.email:
            with self._locks_lock:
                notice = self._notices.setdefault(
                    (payment.payment_id, row.kind.value),
                    (payment.email, payment.amount_paid_cents + payment.reversed_cents, []),
                )
                if payment.completed_at is not None:
                    self._paid_at[payment.payment_id] = payment.completed_at
                notice[2].append(row)
        return True

    def _reversed(self, row: PaymentFileRow, outcome: ReversalOutcome) -> None:
        metrics.add_metric(name=f"Payment{_KIND_WORDS[row.kind.value]}", unit=MetricUnit.Count, value=1)
        if outcome is ReversalOutcome.REVIEW:
            self.tallies.count("mismatched", self._at(row, "reversal_without_credit"))
            metrics.add_metric(name="ReconciliationMismatch", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="PaymentNeedsReview", unit=MetricUnit.Count, value=1)
            return
        if outcome is ReversalOutcome.RECORDED:
            self.tallies.count("reversals_recorded", self._at(row, "reversal_recorded_only"))
            return
        self.tallies.count("reversed", self._at(row, row.kind.value.lower()))
        metrics.add_metric(name="PaymentReversed", unit=MetricUnit.Count, value=1)

    def _tell_payers(self) -> None:
        """One email per payment and kind: what was reversed on which invoices (an email never undoes
        what was done; a failure to send is logged by purpose only)."""
        for (payment_id, kind), (email, payment_cents, rows) in sorted(self._notices.items()):
            subject, body = emails.reversal_email(
                biller_name=self.biller_name,
                kind=kind,
                amount_cents=sum(row.cents for row in rows),
                invoices=[(row.account_number, row.invoice_number, row.cents) for row in rows],
                payment_reference=receipt_reference(payment_id),
                occurred=clock.local_date(min(row.at for row in rows), self.time_zone),
                portal_url=self.portal_url,
                payment_cents=payment_cents,
                paid_at=clock.local_time(paid, self.time_zone) if (paid := self._paid_at.get(payment_id)) else None,
            )
            send_email(to=email, subject=subject, body=body, purpose="reversal_notice")

    # ---- what the file did not say -----------------------------------------------------------

    def _unknown(self, row: PaymentFileRow) -> None:
        self.tallies.count("unknown_payment", self._at(row, "unknown_payment"))
        metrics.add_metric(name="ReconciliationMismatch", unit=MetricUnit.Count, value=1)

    def _at(self, row: PaymentFileRow, reason: str) -> Discrepancy:
        return Discrepancy(
            reason=reason,
            line=row.line,
            payment_id=row.biller_reference,
            payment_guid=row.payment_guid,
            invoice=row.ref,
        )

    def finish(self, run: Run) -> None:
        self._tell_payers()
        day = self.format.day_of(self.key)
        if day is None:
            return
        missing_day = day - timedelta(days=get_ledger_settings().reconcile_missing_days)
        for entry in ledger_store.list_day(missing_day.isoformat()):
            if entry.kind == "PAYMENT" and entry.source == "postback" and entry.confirmed_by is None:
                self.tallies.count(
                    "missing_from_invoice_cloud",
                    Discrepancy(
                        reason="missing_from_invoice_cloud",
                        payment_id=entry.payment_id,
                        payment_guid=entry.payment_guid or None,
                        at=entry.at,
                    ),
                )
                metrics.add_metric(name="PostbackMissingFromInvoiceCloud", unit=MetricUnit.Count, value=1)


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


def reconcile_file(opener: Opener, *, key: str, progress: Callable[[int], None] | None = None) -> ReconcileReport:
    """Reconcile one payment file; ``opener()`` opens it for reading (text with its line ends), as a
    context manager: it is read twice, streaming both times."""
    started = clock.utc_now()
    settings = get_ledger_settings()
    file_format = get_payment_file_format(settings.ic_payment_file_format)
    day = file_format.day_of(key)
    tallies = _Tallies()
    report_args: dict[str, Any] = {"key": key, "day": day, "format": file_format.format, "started_at": started}
    refused = _day_problem(day, file_format, settings.reconcile_missing_days)
    if refused is not None:
        return _finish(
            ReconcileReport(**report_args, status=ImportStatus.REJECTED, reason=refused, finished_at=clock.utc_now())
        )
    importer = _PaymentFileRows(key, file_format, tallies, _told_by_file(opener, file_format))
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


def reconcile_s3_object(bucket: str, key: str, *, version_id: str | None = None) -> ReconcileReport:
    """Reconcile ``s3://bucket/key``, write its report beside it and record it done."""
    file_format = get_payment_file_format(get_ledger_settings().ic_payment_file_format)

    def opener() -> AbstractContextManager[Iterable[str]]:
        return files.open_text(bucket, key, encoding=file_format.encoding, version_id=version_id)

    report = reconcile_file(opener, key=key)
    report_key = files.put_report(bucket, key, report.to_json())
    _record_done(report, report_key)
    return report


def record_done_locally(report: ReconcileReport, report_path: str) -> None:
    """What ``python -m tools reconcile`` records after a file reconciled by hand."""
    _record_done(report, report_path)
