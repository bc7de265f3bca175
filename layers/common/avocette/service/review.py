"""Settling payments under review (DESIGN §6c *Review*): list, show, apply, dismiss.

Ops run these through ``python -m tools review``. Each decision writes its ``REVIEW#`` audit item
(who, when, what, the note) in the same transaction as its effect, so that no money moves without
its record and no record exists without its effect. Credits go through the store's own conditions,
as a postback's do: a review cannot credit an invoice above its bill either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from avocette import SERVICE_NAME, clock
from avocette.domain import review as rules
from avocette.domain.billing import InvoiceRef
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import Payment
from avocette.domain.review import Candidate, ReviewDecision, ReviewRefusedError
from avocette.store import keys
from avocette.store import payments as payments_store
from avocette.store.payments import PaymentRecord, PostbackRaceError
from avocette.store.table import serialize, table_name

__all__ = [
    "ReviewCase",
    "ReviewRefusedError",
    "apply_review",
    "dismiss_review",
    "list_reviews",
    "show_review",
]

logger = Logger(service=SERVICE_NAME, child=True)

_ATTEMPTS = 3


def list_reviews(reason: str | None = None) -> list[Payment]:
    """Payments waiting for a person, oldest first; only those flagged for ``reason`` when given."""
    return [
        payment
        for payment in payments_store.list_payments_for_review()
        if reason is None or payment.review_reason == reason
    ]


@dataclass(frozen=True)
class ReviewCase:
    """What a person needs to decide: the payment, every postback recorded for it (kept fields as
    received, what they were read as, what came of them), earlier decisions, candidate allocations."""

    record: PaymentRecord
    candidates: list[Candidate]

    @property
    def payment(self) -> Payment:
        assert self.record.payment is not None
        return self.record.payment


def show_review(payment_id: str) -> ReviewCase:
    record = payments_store.get_payment_record(payment_id)
    if record.payment is None:
        raise ReviewRefusedError(f"no payment {payment_id}")
    return ReviewCase(record=record, candidates=rules.candidates(record.payment, record.postbacks))


def _audit_item(
    payment: Payment, decision: ReviewDecision, at: str, by: str, note: str, **extra: Any
) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table_name(),
            "Item": serialize(
                {
                    "PK": keys.payment_pk(payment.payment_id),
                    "SK": keys.review_sk(at),
                    "decision": decision.value,
                    "by": by,
                    "at": at,
                    "note": note,
                    "reason": payment.review_reason,
                    **extra,
                }
            ),
            "ConditionExpression": "attribute_not_exists(SK)",
        }
    }


def _require_note(note: str, by: str) -> None:
    if not note.strip():
        raise ReviewRefusedError("a note is required: say why (it is kept in the audit trail)")
    if not by.strip():
        raise ReviewRefusedError("who decides is required (--by, or the AWS caller identity)")


def apply_review(payment_id: str, allocation: Mapping[str, int], *, note: str, by: str) -> Payment:
    """Apply ``allocation`` (invoice, or ``ACCOUNT/INVOICE``, → cents) to a NEEDS_REVIEW payment:
    credits, APPROVED, audit, in one transaction. Refused (:class:`ReviewRefusedError`) when the
    payment is not under review, an amount does not fit, or an invoice would be credited above its
    bill (another payment paid it: refund one at Invoice Cloud and dismiss this one)."""
    _require_note(note, by)
    keep_holds: set[InvoiceRef] = set()
    for _attempt in range(_ATTEMPTS):
        record = payments_store.get_payment_record(payment_id)
        payment = record.payment
        if payment is None:
            raise ReviewRefusedError(f"no payment {payment_id}")
        by_line = {rules.line_index(payment, name): cents for name, cents in allocation.items()}
        now = clock.utc_now()
        at = clock.timestamp(now)
        after = rules.apply_allocation(payment, by_line, record.postbacks, now)
        credits = rules.review_credits(payment, by_line, f"review-{at}")
        approval = rules.latest_approval(record.postbacks)
        guid = approval.postback.payment_guid if approval else ""
        allocation = {str(payment.lines[index].ref): cents for index, cents in by_line.items()}
        audit = _audit_item(
            payment, ReviewDecision.APPLY, at, by, note, allocation=allocation, paymentGuid=guid or None
        )
        ledger = LedgerEntry(
            at=now,
            credit_key=credits[0].credit_id,
            payment_id=payment_id,
            kind="PAYMENT",
            payment_guid=guid,
            method=after.payment_method,
            source="review",
            invoices=allocation,
        )
        try:
            payments_store.transact_credits(
                [audit, payments_store.put_payment(after, expected_version=payment.version)],
                payment_id=payment_id,
                credits=credits,
                approved_at=now,
                keep_holds=keep_holds,
                ledger=ledger,
                payment_guid=guid,
            )
        except PostbackRaceError as race:
            if race.over_credit:
                names = ", ".join(sorted(str(ref) for ref in race.over_credit))
                raise ReviewRefusedError(
                    f"{names} would be credited above its bill: another payment paid it. Refund one of the "
                    "two payments at Invoice Cloud, then dismiss this one."
                ) from None
            keep_holds |= race.holds_lost
            continue
        logger.info("Review applied", extra={"payment_id": payment_id, "invoice_count": len(by_line)})
        return after
    raise ReviewRefusedError("the payment kept changing while the review was applied; try again")


def dismiss_review(payment_id: str, *, note: str, by: str) -> Payment:
    """Close a NEEDS_REVIEW payment without money (CLOSED), releasing its holds, with its audit item."""
    _require_note(note, by)
    for _attempt in range(_ATTEMPTS):
        payment = payments_store.get_payment(payment_id)
        if payment is None:
            raise ReviewRefusedError(f"no payment {payment_id}")
        now = clock.utc_now()
        after = rules.dismiss(payment, now)
        audit = _audit_item(payment, ReviewDecision.DISMISS, clock.timestamp(now), by, note)
        try:
            payments_store.release_holds(payment, after, [line.ref for line in payment.lines], head=[audit])
        except PostbackRaceError:
            continue
        logger.info("Review dismissed", extra={"payment_id": payment_id})
        return after
    raise ReviewRefusedError("the payment kept changing while it was dismissed; try again")
