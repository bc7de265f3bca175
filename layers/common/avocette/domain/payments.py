"""Payments: the life cycle of DESIGN §6, and what the payer reads about one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

from avocette import money
from avocette.domain.billing import InvoiceRef

__all__ = [
    "MAX_INVOICES_PER_PAYMENT",
    "Payment",
    "PaymentLine",
    "PaymentStatus",
    "Reversal",
    "ReversalKind",
    "expire",
    "receipt_reference",
    "status_message",
]

MAX_INVOICES_PER_PAYMENT = 50

# Crockford's base 32: digits and capitals without I, L, O and U, so nothing reads as another character.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def receipt_reference(payment_id: str) -> str:
    """The short reference a payer reads and quotes, derived from the payment id alone: "AVC-7KQ4-M2XD".

    40 bits of the id's SHA-256, in Crockford's base 32. It names the payment to a person reading the
    receipt; it is not a key (the payment id is), so a rare collision misleads no lookup."""
    number = int.from_bytes(hashlib.sha256(payment_id.encode()).digest()[:5], "big")
    chars = "".join(_REFERENCE_ALPHABET[(number >> shift) & 31] for shift in range(35, -1, -5))
    return f"AVC-{chars[:4]}-{chars[4:]}"


class PaymentStatus(StrEnum):
    CREATED = "CREATED"
    PENDING = "PENDING"
    DECLINED = "DECLINED"
    APPROVED = "APPROVED"
    NEEDS_REVIEW = "NEEDS_REVIEW"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    REVERSED = "REVERSED"  # every credit of the payment was reversed (void, ACH return, chargeback)
    CLOSED = "CLOSED"  # a review closed it without credits (e.g. refunded at Invoice Cloud)

    @property
    def holds_session(self) -> bool:
        """While in these states the payer may still pay on Invoice Cloud's page (until expiry)."""
        return self in (PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.DECLINED)

    @property
    def final(self) -> bool:
        return self in (
            PaymentStatus.APPROVED,
            PaymentStatus.NEEDS_REVIEW,
            PaymentStatus.FAILED,
            PaymentStatus.EXPIRED,
            PaymentStatus.REVERSED,
            PaymentStatus.CLOSED,
        )


# ---- POST /payments ---------------------------------------------------------------------------


# ---- the payment itself -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentLine:
    """One invoice of a payment: what was due when the session started and what has been paid.

    ``account_credit_cents`` is how much of the account's credit balance lowered ``due_cents`` when the
    session started (DESIGN §5): every credit of this line must leave the invoice at least that much
    unpaid, so that the credit is never netted from two payments."""

    account_number: str
    invoice_number: str
    due_cents: int  # > 0
    paid_cents: int = 0  # >= 0
    minimum_cents: int | None = None
    allow_partial: bool | None = None
    account_credit_cents: int = 0  # >= 0

    def __post_init__(self) -> None:
        if self.due_cents <= 0 or self.paid_cents < 0 or self.account_credit_cents < 0:
            raise ValueError("a line is due more than 0, paid 0 or more and lowered by 0 or more of credit")

    @property
    def ref(self) -> InvoiceRef:
        return InvoiceRef(account_number=self.account_number, invoice_number=self.invoice_number)

    @property
    def unpaid_cents(self) -> int:
        return max(0, self.due_cents - self.paid_cents)


ReversalKind = Literal["VOID", "REFUND", "ACH_RETURN", "CHARGEBACK", "CHARGEBACK_REVERSAL"]
# The one kind that gives money back: the biller won the dispute, and what its chargeback took returns.
RESTORING: Final = "CHARGEBACK_REVERSAL"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reversal:
    """Money Invoice Cloud took back from an approved payment (a void, a refund, an ACH return, a
    chargeback) or gave back (a chargeback reversal: the biller won the dispute), as its payment file
    reported it; ``invoices`` holds the cents per invoice key (positive for every kind)."""

    identity: str
    kind: ReversalKind
    cents: int  # > 0
    at: datetime
    payment_guid: str
    invoices: dict[str, int]

    def __post_init__(self) -> None:
        if self.cents <= 0:
            raise ValueError("a reversal takes back more than 0")
        object.__setattr__(self, "invoices", dict(self.invoices))  # its own copy, as a frozen value


@dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    payment_id: str
    sub: str
    status: PaymentStatus
    lines: tuple[PaymentLine, ...]  # at least one
    created_at: datetime
    session_expires_at: datetime
    payment_url: str | None = None
    ic_payment_ids: tuple[str, ...] = ()
    convenience_fee_cents: int = 0
    payment_method: Literal["CARD", "ACH"] | None = None
    card_type: str | None = None
    authorization: str | None = None
    completed_at: datetime | None = None
    review_reason: str | None = None
    flagged_at: datetime | None = None
    failure_reason: str | None = None
    # The payer's email as their sign-in said when they started it: where a reversal is reported.
    email: str | None = field(default=None, repr=False)
    reversals: tuple[Reversal, ...] = ()
    version: int = 0

    def __post_init__(self) -> None:
        # Sequences as tuples, the status as its enum: a frozen value whatever the caller passed.
        object.__setattr__(self, "status", PaymentStatus(self.status))
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "ic_payment_ids", tuple(self.ic_payment_ids))
        object.__setattr__(self, "reversals", tuple(self.reversals))
        if not self.lines:
            raise ValueError("a payment has at least one line")

    @property
    def amount_due_cents(self) -> int:
        return sum(line.due_cents for line in self.lines)

    @property
    def amount_paid_cents(self) -> int:
        return sum(line.paid_cents for line in self.lines)

    @property
    def unpaid_cents(self) -> int:
        return sum(line.unpaid_cents for line in self.lines)

    @property
    def reversed_cents(self) -> int:
        """What reversals took back and did not give back."""
        return sum(-r.cents if r.kind == RESTORING else r.cents for r in self.reversals)

    def clearing(self, now: datetime, ach_return_days: int) -> bool:
        """An approved bank (ACH) payment is provisional until its bank could still return it."""
        return (
            self.status is PaymentStatus.APPROVED
            and self.payment_method == "ACH"
            and self.completed_at is not None
            and now < self.completed_at + timedelta(days=ach_return_days)
        )

    @property
    def refs(self) -> frozenset[InvoiceRef]:
        return frozenset(line.ref for line in self.lines)

    def session_open(self, now: datetime) -> bool:
        return self.status.holds_session and self.session_expires_at > now

    def is_final(self, now: datetime) -> bool:
        """Final for the portal: a final state, or a decline whose session has ended."""
        return self.status.final or (self.status is PaymentStatus.DECLINED and not self.session_open(now))


def expire(payment: Payment, now: datetime) -> Payment | None:
    """The payment after its session and grace have passed (§6c): CREATED, PENDING and DECLINED
    become EXPIRED; anything else stays as it is (``None``)."""
    if not payment.status.holds_session:
        return None
    return replace(payment, status=PaymentStatus.EXPIRED, completed_at=now, version=payment.version + 1)


# What the payer reads in the states that say the same whatever the details.
_MESSAGES = {
    PaymentStatus.CREATED: "Your payment is being set up with Invoice Cloud.",
    PaymentStatus.PENDING: "Waiting for the result of your payment from Invoice Cloud.",
    PaymentStatus.NEEDS_REVIEW: (
        "We received a payment result that we need to check by hand. "
        "Please do not pay again; your account will be updated within one business day."
    ),
    PaymentStatus.FAILED: "We could not start your payment with Invoice Cloud. No money was taken. Please try again.",
    # A session can end with the payer's money taken and its result lost on the way: never say none was.
    PaymentStatus.EXPIRED: (
        "Your payment session ended without a result from Invoice Cloud. If you completed the payment, it will "
        "show here once Invoice Cloud reports it, usually within one business day. Please check your receipt "
        "or your card or bank statement before paying again."
    ),
    PaymentStatus.REVERSED: (
        "This payment was reversed and no longer counts toward your bills. The invoices it paid are due again."
    ),
    PaymentStatus.CLOSED: (
        "We reviewed this payment and closed it without applying it to your bills. "
        "If you were charged, the charge is refunded to you by Invoice Cloud."
    ),
}


ACH_CLEARING = " Bank payments can take a few days to clear."


def status_message(payment: Payment, now: datetime, ach_return_days: int = 5) -> str:
    """What the payer reads about their payment; never an internal reason."""
    paid = money.cents_to_text(payment.amount_paid_cents)
    clearing = ACH_CLEARING if payment.clearing(now, ach_return_days) else ""
    match payment.status:
        case PaymentStatus.PENDING | PaymentStatus.CREATED if payment.session_expires_at <= now:
            return (
                "Your payment session has ended. If you paid, the result will show here once Invoice Cloud "
                "reports it; please do not pay again meanwhile. If you did not pay, no money was taken."
            )
        case PaymentStatus.DECLINED if payment.session_open(now):
            return "Your payment was declined. No money was taken. You can try again with another card or bank account."
        case PaymentStatus.DECLINED:
            return "Your payment was declined and the payment session has ended. No money was taken."
        case PaymentStatus.APPROVED if payment.reversed_cents > 0:
            reversed_ = money.cents_to_text(payment.reversed_cents)
            return (
                f"${reversed_} of your payment was reversed and is due again on your bills. "
                f"The other ${paid} of your payment still counts toward them."
            )
        case PaymentStatus.APPROVED if payment.amount_paid_cents < payment.amount_due_cents:
            return (
                f"Your payment of {_charged(payment)} was approved. Invoices you did not pay remain open on your "
                "account." + clearing
            )
        case PaymentStatus.APPROVED:
            return f"Your payment of {_charged(payment)} was approved. Thank you!" + clearing
    return _MESSAGES[payment.status]


def _charged(payment: Payment) -> str:
    """What the payer was charged, with the fee named: "$157.09 (including a $2.00 fee)"."""
    paid = money.cents_to_text(payment.amount_paid_cents + payment.convenience_fee_cents)
    if not payment.convenience_fee_cents:
        return f"${paid}"
    return f"${paid} (including a ${money.cents_to_text(payment.convenience_fee_cents)} fee)"


# ---- GET /payments, GET /payments/{paymentId} -------------------------------------------------
