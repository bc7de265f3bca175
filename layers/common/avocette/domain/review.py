"""Settling a payment under review (DESIGN §6c *Review*): what ops may decide and what it changes.

A person applies money to chosen invoices (→ APPROVED) or closes the payment without money
(→ CLOSED, e.g. refunded at Invoice Cloud). Both are refused for a payment that is not
NEEDS_REVIEW, and an allocation must fit what each invoice still has unpaid in the payment. The
store then applies the credits through the same conditions as a postback, so that a review can
never credit an invoice above its bill either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from avocette import money
from avocette.domain.billing import credit_id
from avocette.domain.payments import Payment, PaymentStatus
from avocette.domain.postbacks import Outcome, PostbackCredit, RecordedPostback, ReviewReason, allocate

__all__ = [
    "Candidate",
    "ReviewDecision",
    "ReviewRefusedError",
    "apply_allocation",
    "candidates",
    "dismiss",
    "latest_approval",
    "line_index",
    "reported_cents",
    "review_credits",
]


class ReviewDecision(StrEnum):
    APPLY = "APPLY"
    DISMISS = "DISMISS"


class ReviewRefusedError(ValueError):
    """A review action that cannot be taken; the message says why, for the person at the terminal."""


def _require_review(payment: Payment) -> None:
    if payment.status is not PaymentStatus.NEEDS_REVIEW:
        raise ReviewRefusedError(f"payment {payment.payment_id} is {payment.status.value}, not NEEDS_REVIEW")


def line_index(payment: Payment, name: str) -> int:
    """The line named ``INVOICE`` or ``ACCOUNT/INVOICE`` (needed when two accounts share a number)."""
    account, _, invoice = name.rpartition("/")
    matches = [
        index
        for index, line in enumerate(payment.lines)
        if line.invoice_number == invoice and (not account or line.account_number == account)
    ]
    if not matches:
        raise ReviewRefusedError(f"{name} is not an invoice of payment {payment.payment_id}")
    if len(matches) > 1:
        raise ReviewRefusedError(f"{name} names several invoices of the payment: write ACCOUNT/{invoice}")
    return matches[0]


def latest_approval(recorded: Mapping[str, RecordedPostback]) -> RecordedPostback | None:
    approvals = [r for r in recorded.values() if r.postback.approved and r.postback.problem is None]
    return max(approvals, key=lambda r: r.received_at, default=None)


def reported_cents(recorded: Mapping[str, RecordedPostback]) -> int | None:
    """What Invoice Cloud's readable approvals say it charged for the payment (fees excluded): for
    each of its payment ids, the largest credit reported (a conflicting copy restates the same money).
    ``None`` when no readable approval was recorded (ops must then know the amount from IC)."""
    by_guid: dict[str, int] = {}
    for record in recorded.values():
        postback = record.postback
        if postback.approved and postback.problem is None and postback.credit_cents:
            by_guid[postback.payment_guid] = max(by_guid.get(postback.payment_guid, 0), postback.credit_cents)
    return sum(by_guid.values()) if by_guid else None


def apply_allocation(
    payment: Payment, allocation: Mapping[int, int], recorded: Mapping[str, RecordedPostback], now: datetime
) -> Payment:
    """NEEDS_REVIEW → APPROVED with ``allocation`` (cents by line index) paid. Refused when the
    payment would then hold more than its readable approvals reported (a person cannot credit money
    Invoice Cloud never said it charged; with no readable approval, ops know the amount from IC). The
    payment's Invoice Cloud details (payment id, fee, method, approval code) come from its latest
    readable approval, when it has one and the payment lacks them."""
    _require_review(payment)
    if not allocation:
        raise ReviewRefusedError("give at least one INVOICE=AMOUNT")
    lines = list(payment.lines)
    for index, cents in allocation.items():
        line = lines[index]
        if cents <= 0:
            raise ReviewRefusedError(f"{line.invoice_number}: the amount must be above zero")
        if cents > line.unpaid_cents:
            raise ReviewRefusedError(
                f"{line.invoice_number}: {money.cents_to_text(cents)} is more than the "
                f"{money.cents_to_text(line.unpaid_cents)} still unpaid on it in this payment"
            )
        lines[index] = line.model_copy(update={"paid_cents": line.paid_cents + cents})
    update: dict[str, object] = {
        "status": PaymentStatus.APPROVED,
        "lines": tuple(lines),
        "version": payment.version + 1,
        "completed_at": payment.completed_at or now,
    }
    reported = reported_cents(recorded)
    total_paid = sum(line.paid_cents for line in lines)
    if reported is not None and total_paid > reported:
        raise ReviewRefusedError(
            f"that would credit {money.cents_to_text(total_paid)} in all, more than the "
            f"{money.cents_to_text(reported)} Invoice Cloud reported for this payment"
        )
    approval = latest_approval(recorded)
    if approval is not None:
        postback = approval.postback
        if postback.payment_guid not in payment.ic_payment_ids:
            update["ic_payment_ids"] = (*payment.ic_payment_ids, postback.payment_guid)
            update["convenience_fee_cents"] = payment.convenience_fee_cents + postback.fee_cents
        method = payment.payment_method or postback.payment_method
        update["payment_method"] = method
        update["card_type"] = payment.card_type or (postback.card_type if method != "ACH" else None) or None
        update["authorization"] = payment.authorization or postback.authorization or None
    return payment.model_copy(update=update)


def review_credits(payment: Payment, allocation: Mapping[int, int], source: str) -> list[PostbackCredit]:
    """The invoices' credits of an applied review (``source`` makes their keys unique)."""
    return [
        PostbackCredit(
            ref=payment.lines[index].ref,
            credit_id=credit_id(payment.payment_id, source),
            cents=cents,
            releases_hold=payment.lines[index].paid_cents + cents >= payment.lines[index].due_cents,
        )
        for index, cents in sorted(allocation.items())
    ]


def dismiss(payment: Payment, now: datetime) -> Payment:
    """NEEDS_REVIEW → CLOSED: no money applied (e.g. the payer was refunded at Invoice Cloud)."""
    _require_review(payment)
    return payment.model_copy(
        update={
            "status": PaymentStatus.CLOSED,
            "version": payment.version + 1,
            "completed_at": payment.completed_at or now,
        }
    )


@dataclass(frozen=True)
class Candidate:
    """What one recorded approval would pay by the rules, for a person deciding: the allocation
    (invoice name → cents) or the reason it has none."""

    postback_key: str
    credit_cents: int | None
    invoice_number: str
    allocation: dict[str, int]
    reason: ReviewReason | None


def candidates(payment: Payment, recorded: Mapping[str, RecordedPostback]) -> list[Candidate]:
    """For each readable approval recorded but not applied, what the allocation rules make of it
    against what is still unpaid in the payment (oldest first)."""
    found = []
    for record in sorted(recorded.values(), key=lambda r: r.received_at):
        postback = record.postback
        if not postback.approved or postback.problem is not None or record.outcome is Outcome.APPLIED:
            continue
        result = allocate(payment, postback.invoice_number, postback.credit_cents or 0)
        allocation = (
            {}
            if isinstance(result, ReviewReason)
            else {
                f"{payment.lines[index].account_number}/{payment.lines[index].invoice_number}": cents
                for index, cents in result.items()
            }
        )
        found.append(
            Candidate(
                postback_key=record.key,
                credit_cents=postback.credit_cents,
                invoice_number=postback.invoice_number,
                allocation=allocation,
                reason=result if isinstance(result, ReviewReason) else None,
            )
        )
    return found
