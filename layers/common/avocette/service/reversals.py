"""Reversals (DESIGN §6d): money Invoice Cloud took back from a payment, applied to its credits.

A VOID, ACH_RETURN or CHARGEBACK row of Invoice Cloud's payment file is recorded once
(``REVERSAL#{identity}``) and, on an APPROVED payment, takes its cents back from the credits its
payment id made on its invoice, in one transaction with the payment and the ledger entry. On a payment
under review, reversed or closed it is recorded only; where there is nothing of its payment id to take
back, its payment goes to review. When a person then settles the payment, the reversals recorded
meanwhile are replayed against it (:func:`replay_reversals`), and so are those recorded while it stood
reversed once a won chargeback makes it count again: money Invoice Cloud took back is never left out
of the books because it arrived while a person was looking, or while the payment was charged back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from avocette import SERVICE_NAME, clock, errors
from avocette.domain.billing import Invoice, InvoiceRef
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import Payment
from avocette.domain.postbacks import paid_moment
from avocette.domain.reconciliation import PaymentFileRow, ReversalOutcome, RowKind, plan_reversal
from avocette.errors import StoreUnavailableError
from avocette.store import billing as billing_store
from avocette.store import credits as credits_store
from avocette.store import payment_items
from avocette.store import payments as payments_store
from avocette.store.credits import PostbackRaceError

__all__ = ["ReversalApplied", "apply_reversal", "replay_reversals"]

logger = Logger(service=SERVICE_NAME, child=True)

_ATTEMPTS = 4
# Outcomes of a reversal recorded without moving money, which a review decision may change.
_PENDING = (ReversalOutcome.RECORDED.value, ReversalOutcome.REVIEW.value)


@dataclass(frozen=True)
class ReversalApplied:
    """What one reversal did: its outcome, and the payment as it was before it."""

    outcome: ReversalOutcome
    before: Payment
    invoice_closed: bool = False  # the billing file no longer lists the row's invoice
    reason: str = ""  # why it went under review (ReversalPlan.reason)


def apply_reversal(
    row: PaymentFileRow, *, file_key: str, identity: str | None = None, replaying: str | None = None
) -> ReversalApplied | None:
    """Record and apply one reversal row; ``None`` when it was recorded already (a file read again).
    Replaying (``identity`` and the ``replaying`` outcome it was recorded with), the recorded reversal
    is applied now, if it can be. Raises ``PaymentNotFoundError`` and ``StoreUnavailableError``."""
    over_credit = False
    for _attempt in range(_ATTEMPTS):
        record = payments_store.get_payment_record(row.biller_reference)
        payment = record.payment
        if payment is None:
            raise errors.PaymentNotFoundError()
        now = clock.utc_now()
        invoice = _invoice(row)
        plan = plan_reversal(payment, row, invoice, now, identity=identity, over_credit_refused=over_credit)
        stored = record.reversals.get(plan.identity)
        if replaying is None and stored is not None:
            return None
        if replaying is not None and (stored is None or stored.get("outcome") != replaying):
            return None  # replayed by someone else meanwhile
        if replaying is not None and plan.outcome is ReversalOutcome.RECORDED:
            return ReversalApplied(plan.outcome, payment)  # still only to record: nothing changes
        ledger = (
            LedgerEntry(
                at=now,
                credit_key=plan.credits[0].credit_key,
                payment_id=payment.payment_id,
                kind=row.kind.value,
                payment_guid=row.payment_guid,
                method=payment.payment_method,
                source="reversal",
                invoices={row.ref: row.cents if row.kind is RowKind.CHARGEBACK_REVERSAL else -row.cents},
                confirmed_by=file_key,
                paid_at=paid_moment(record.postbacks, row.payment_guid),
                occurred_at=row.at,
                card_type=payment.card_type or "",
                reason_code=row.reason_code,
            )
            if plan.credits
            else None
        )
        try:
            credits_store.record_reversal(
                before=payment, plan=plan, row=row, file_key=file_key, at=now, ledger=ledger, replaying=replaying,
            )  # fmt: skip
        except PostbackRaceError as race:
            if race.postback_exists:
                return None
            over_credit = bool(race.over_credit)
            continue
        if replaying is None and row.kind is RowKind.CHARGEBACK_REVERSAL and plan.outcome is ReversalOutcome.REVERSED:
            # The payment counts again: what was recorded only while it stood reversed takes its money now.
            replay_reversals(payment.payment_id)
        closed = invoice is None or invoice.closed_at is not None
        return ReversalApplied(plan.outcome, payment, invoice_closed=closed, reason=plan.reason)
    raise StoreUnavailableError("the reversal could not be recorded: the payment kept changing")


def replay_reversals(payment_id: str) -> int:
    """After a person settled ``payment_id``, or a won chargeback made it count again: apply the
    reversals recorded while it was under review or reversed (or that found nothing to take back
    then), in the order Invoice Cloud's files listed them, pass after pass while one applies (a
    chargeback reversal replayed gives back what a reversal recorded before it may then take).
    Answers how many applied now; one that still cannot apply puts the payment under review again, as
    it would have from the file."""
    applied = 0
    while True:  # each pass that moves money turns at least one pending reversal REVERSED: it ends
        record = payments_store.get_payment_record(payment_id)
        pending = sorted(
            ((identity, stored) for identity, stored in record.reversals.items() if stored.get("outcome") in _PENDING),
            key=_file_order,
        )
        moved = 0
        for identity, stored in pending:
            result = apply_reversal(
                payment_items.reversal_row(payment_id, stored), file_key=str(stored.get("file", "")),
                identity=identity, replaying=str(stored["outcome"]),
            )  # fmt: skip
            if result is not None and result.outcome is ReversalOutcome.REVERSED:
                moved += 1
        applied += moved
        if not moved:
            break
    if applied:
        logger.info("Reversals replayed", extra={"payment_id": payment_id, "applied": applied})
    return applied


def _file_order(entry: tuple[str, dict[str, Any]]) -> tuple[str, str, int, int, str]:
    """A recorded reversal's place: when it was recorded, then its file; among those recorded at once,
    chargebacks before their reversals before every other kind (a day's file rewritten may number the
    same rows otherwise, and a refund Invoice Cloud could only make once a dispute was won must not be
    replayed before the dispute), then its line and identity (a fixed order, never the table's)."""
    identity, stored = entry
    rank = {"CHARGEBACK": 0, "CHARGEBACK_REVERSAL": 1}.get(str(stored.get("kind", "")), 2)
    return (str(stored.get("at", "")), str(stored.get("file", "")), rank, int(stored.get("line", 0) or 0), identity)


def _invoice(row: PaymentFileRow) -> Invoice | None:
    ref = InvoiceRef(account_number=row.account_number, invoice_number=row.invoice_number)
    return billing_store.get_invoices([ref]).get(ref)
