"""Reconciling a postback with its payment: the pure rules of DESIGN §6c.

:func:`decide` takes the payment as stored and a parsed postback and says what must change; the
store applies that in one transaction. Nothing here reads or writes anything.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.invoicecloud.postback import Postback

__all__ = ["Decision", "Outcome", "ReviewReason", "decide", "transition_on_review"]


class Outcome(StrEnum):
    APPLIED = "APPLIED"  # approved and reconciled: money applied
    DECLINED = "DECLINED"  # a declined attempt: no money
    REVIEW = "REVIEW"  # not reconcilable: recorded, payment to NEEDS_REVIEW, no money
    RECORDED = "RECORDED"  # payment already under review: recorded only
    INVALID = "INVALID"  # unreadable postback (400): recorded, payment to NEEDS_REVIEW


class ReviewReason(StrEnum):
    UNALLOCATED_AMOUNT = "unallocated_amount"
    AMOUNT_EXCEEDS_DUE = "amount_exceeds_due"
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_INVOICE = "unknown_invoice"
    AMBIGUOUS_INVOICE = "ambiguous_invoice"
    DUPLICATE_PAYMENT = "duplicate_payment"
    BILLER_REFERENCE_MISMATCH = "biller_reference_mismatch"
    BILLER_GUID_MISMATCH = "biller_guid_mismatch"
    CONFLICTING_POSTBACK = "conflicting_postback"
    INVALID_POSTBACK = "invalid_postback"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    status: PaymentStatus
    reason: ReviewReason | None = None
    # cents to credit, by index into payment.lines
    allocation: dict[int, int] = field(default_factory=dict)
    # metric names for money applied outside the invoice's own rules (partial, below minimum)
    notes: tuple[str, ...] = ()

    @property
    def applies_money(self) -> bool:
        return bool(self.allocation)


def transition_on_review(payment: Payment, reason: ReviewReason) -> Decision:
    """Anything not reconcilable: NEEDS_REVIEW (sticky), no money applied."""
    if payment.status is PaymentStatus.NEEDS_REVIEW:
        return Decision(Outcome.RECORDED, PaymentStatus.NEEDS_REVIEW, reason)
    return Decision(Outcome.REVIEW, PaymentStatus.NEEDS_REVIEW, reason)


def decide(payment: Payment, postback: Postback, *, amount_includes_fee: bool, biller_guid: str) -> Decision:
    """The transition table of §6c for one valid postback (``postback.problem`` is None)."""
    if postback.problem is not None:
        raise ValueError("an invalid postback is recorded for review, not decided")
    if payment.status is PaymentStatus.NEEDS_REVIEW:
        return Decision(Outcome.RECORDED, PaymentStatus.NEEDS_REVIEW)

    if not postback.approved:
        if payment.status in (PaymentStatus.CREATED, PaymentStatus.PENDING):
            return Decision(Outcome.DECLINED, PaymentStatus.DECLINED)
        return Decision(Outcome.DECLINED, payment.status)

    if postback.biller_reference and postback.biller_reference != payment.payment_id:
        return transition_on_review(payment, ReviewReason.BILLER_REFERENCE_MISMATCH)
    if postback.biller_guid and biller_guid and postback.biller_guid.lower() != biller_guid.lower():
        return transition_on_review(payment, ReviewReason.BILLER_GUID_MISMATCH)

    credit = postback.credit_cents(amount_includes_fee=amount_includes_fee)
    if credit <= 0:
        return transition_on_review(payment, ReviewReason.INVALID_AMOUNT)

    allocation = _allocate(payment, postback.invoice_number, credit)
    if isinstance(allocation, ReviewReason):
        return transition_on_review(payment, allocation)
    return Decision(Outcome.APPLIED, PaymentStatus.APPROVED, None, allocation, _notes(payment, allocation))


def _allocate(payment: Payment, invoice_number: str, credit: int) -> dict[int, int] | ReviewReason:
    """First rule that fits (§6c), with the per-account rule for IC sending one postback per account:
    1. the credit equals what is unpaid on the whole payment: every unpaid invoice gets its due;
    2. the postback names an invoice of the payment: that invoice, or, when the credit equals what is
       unpaid on that invoice's account, the account's unpaid invoices;
    3. no invoice named: the only unpaid invoice, or the unpaid invoices of the only account whose
       unpaid total equals the credit;
    anything else is for review."""
    lines = payment.lines
    unpaid = {index: line.unpaid_cents for index, line in enumerate(lines) if line.unpaid_cents > 0}
    if not unpaid:
        return ReviewReason.DUPLICATE_PAYMENT
    if credit == sum(unpaid.values()):
        return dict(unpaid)

    by_account: dict[str, dict[int, int]] = defaultdict(dict)
    for index, cents in unpaid.items():
        by_account[lines[index].account_number][index] = cents

    if invoice_number:
        named = [index for index, line in enumerate(lines) if line.invoice_number == invoice_number]
        if not named:
            return ReviewReason.UNKNOWN_INVOICE
        if len(named) > 1:
            return ReviewReason.AMBIGUOUS_INVOICE
        index = named[0]
        line = lines[index]
        if line.unpaid_cents == 0:
            return ReviewReason.DUPLICATE_PAYMENT
        if credit <= line.unpaid_cents:
            return {index: credit}
        account_unpaid = by_account[line.account_number]
        if credit == sum(account_unpaid.values()):
            return dict(account_unpaid)
        return ReviewReason.AMOUNT_EXCEEDS_DUE

    if len(unpaid) == 1:
        ((index, cents),) = unpaid.items()
        return {index: credit} if credit <= cents else ReviewReason.AMOUNT_EXCEEDS_DUE
    matching = [account for account, parts in by_account.items() if sum(parts.values()) == credit]
    if len(matching) == 1:
        return dict(by_account[matching[0]])
    return ReviewReason.UNALLOCATED_AMOUNT


def _notes(payment: Payment, allocation: dict[int, int]) -> tuple[str, ...]:
    notes: list[str] = []
    for index, cents in allocation.items():
        line: PaymentLine = payment.lines[index]
        paid_after = line.paid_cents + cents
        if paid_after < line.due_cents and line.allow_partial is False:
            notes.append("PartialPaymentNotAllowed")
        if line.minimum_cents is not None and paid_after < line.minimum_cents:
            notes.append("BelowMinimumAmountDue")
    return tuple(notes)


def apply(payment: Payment, decision: Decision, postback: Postback, now: datetime) -> Payment:
    """The payment after ``decision``: status, paid amounts, IC ids, fee, method, completion."""
    lines = list(payment.lines)
    for index, cents in decision.allocation.items():
        line = lines[index]
        lines[index] = line.model_copy(update={"paid_cents": line.paid_cents + cents})
    update: dict[str, object] = {"status": decision.status, "lines": tuple(lines), "version": payment.version + 1}
    if decision.applies_money:
        if postback.payment_guid not in payment.ic_payment_ids:
            update["ic_payment_ids"] = (*payment.ic_payment_ids, postback.payment_guid)
        update["convenience_fee_cents"] = payment.convenience_fee_cents + postback.fee_cents
        update["payment_method"] = postback.payment_method
        update["card_type"] = postback.card_type or None
    if decision.status is PaymentStatus.NEEDS_REVIEW and payment.status is not PaymentStatus.NEEDS_REVIEW:
        update["review_reason"] = decision.reason.value if decision.reason else None
    if decision.status.final and payment.completed_at is None:
        update["completed_at"] = now
    return payment.model_copy(update=update)
