"""The rows of Invoice Cloud's payment file, one by one (DESIGN §6d): a PAYMENT row through the
postback rules as a postback recovered from the file (matched, recovered, or a mismatch for review);
a reversal row recorded once and taken back (``service.reversals``); after the rows, the applied
postbacks no file listed within ``RECONCILE_MISSING_DAYS``. Rows of one payment are taken one after
another; the payers of reversals are told when the file is done."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock, errors
from avocette.domain.billing import credit_id
from avocette.domain.files import RowProblem
from avocette.domain.ledger import LedgerEntry
from avocette.domain.postbacks import Outcome, PaymentMethod
from avocette.domain.reconciliation import PaymentFileRow, ReversalOutcome, RowKind, postback_from_row
from avocette.invoicecloud.payment_file import PaymentFileFormat
from avocette.service.postbacks import apply_postback
from avocette.service.reconcile_report import Discrepancy, Tallies
from avocette.service.reversal_notices import ReversalNotices
from avocette.service.reversals import apply_reversal
from avocette.service.rowstream.report import ImportStatus
from avocette.service.rowstream.stream import ImportStopped, RowImporter, Run, Tally
from avocette.settings.invoicecloud import get_invoice_cloud_secret
from avocette.settings.ledger import LedgerSettings, get_ledger_settings
from avocette.settings.portal import PortalSettings, get_portal_settings
from avocette.settings.postbacks import get_postback_settings
from avocette.store import ledger as ledger_store
from avocette.store import payments as payments_store
from avocette.store.table import dynamodb

__all__ = ["PaymentFileRows", "ReconcileRules"]

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True)
class ReconcileRules:
    """What reconciling a payment file needs, as its caller loaded it: the money rules' settings (the
    file's format, the look-back for missing postbacks, holds), how PaymentTypeIDs read, our biller
    GUID, and what payers read (the reversal emails)."""

    ledger: LedgerSettings
    payment_type_ids: Mapping[str, PaymentMethod]
    biller_guid: str
    portal: PortalSettings

    @classmethod
    def from_environment(cls) -> ReconcileRules:
        """The settings groups reconciling a file reads (each loaded once, and cached, by its module)."""
        return cls(
            ledger=get_ledger_settings(),
            payment_type_ids=get_postback_settings().ic_payment_type_ids,
            biller_guid=get_invoice_cloud_secret().biller_guid,
            portal=get_portal_settings(),
        )


metrics = Metrics()


_ATTEMPTS = 4


_KIND_WORDS = {
    "VOID": "Void",
    "REFUND": "Refund",
    "ACH_RETURN": "AchReturn",
    "CHARGEBACK": "Chargeback",
    "CHARGEBACK_REVERSAL": "ChargebackReversal",
}


class PaymentFileRows(RowImporter):
    """One Invoice Cloud payment file, by its format."""

    label = "Reconciliation"
    thread_name_prefix = "reconcile"

    def __init__(
        self,
        key: str,
        file_format: PaymentFileFormat,
        tallies: Tallies,
        told: dict[str, dict[str, int]],
        rules: ReconcileRules,
    ) -> None:
        self.rules = rules
        self.key = key
        self.format = file_format
        self.tallies = tallies
        self.told = told
        self.header: list[str] = []
        self.tally = Tally()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
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
        portal = self.rules.portal
        self.notices = ReversalNotices(portal.biller_name, portal.portal_url, portal.time_zone, portal.sender_email)
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
        postback = postback_from_row(row, payment_type_ids=self.rules.payment_type_ids)
        fields = {"source": "Invoice Cloud payment file", "file": self.key, "line": str(row.line)}
        try:
            result = apply_postback(
                row.biller_reference,
                postback,
                fields,
                source="file",
                biller_guid=self.rules.biller_guid,
                hold_after_approval_minutes=self.rules.ledger.hold_after_approval_minutes,
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
                ledger_store.mark_confirmed(entry, self.key, row.at)
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
                ledger_store.mark_confirmed(entry, self.key, row.at)

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
        self._reversed(row, applied.outcome, applied.reason)
        # Invoice Cloud may tell payers of bank returns itself (ACH_RETURN_NOTICE off: not twice).
        notify = row.kind is not RowKind.ACH_RETURN or self.rules.portal.ach_return_notice
        if applied.outcome is ReversalOutcome.REVERSED and notify:
            self.notices.add(applied.before, row, invoice_closed=applied.invoice_closed)
        return True

    def _reversed(self, row: PaymentFileRow, outcome: ReversalOutcome, reason: str = "") -> None:
        metrics.add_metric(name=f"Payment{_KIND_WORDS[row.kind.value]}", unit=MetricUnit.Count, value=1)
        if outcome is ReversalOutcome.REVIEW:
            self.tallies.count("mismatched", self._at(row, reason or "reversal_without_credit"))
            metrics.add_metric(name="ReconciliationMismatch", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="PaymentNeedsReview", unit=MetricUnit.Count, value=1)
            return
        if outcome is ReversalOutcome.RECORDED:
            self.tallies.count("reversals_recorded", self._at(row, "reversal_recorded_only"))
            return
        self.tallies.count("reversed", self._at(row, row.kind.value.lower()))
        metrics.add_metric(name="PaymentReversed", unit=MetricUnit.Count, value=1)

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
        self.notices.send()
        day = self.format.day_of(self.key)
        if day is None:
            return
        missing_day = day - timedelta(days=self.rules.ledger.reconcile_missing_days)
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
