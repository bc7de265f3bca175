"""Payments: the life cycle of DESIGN §6, the request and view models of the HTTP contract (§3)."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from avocette import money
from avocette.domain.billing import InvoiceRef
from avocette.domain.common import ACCOUNT_NUMBER, INVOICE_NUMBER, CamelModel, optional

__all__ = [
    "MAX_INVOICES_PER_PAYMENT",
    "Payment",
    "PaymentLine",
    "PaymentListResponse",
    "PaymentStatus",
    "PaymentView",
    "PaymentViewInvoice",
    "Reversal",
    "ReversalKind",
    "ReversalView",
    "StartPaymentRequest",
    "StartPaymentResponse",
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


class InvoiceSelection(CamelModel):
    account_number: ACCOUNT_NUMBER
    invoice_number: INVOICE_NUMBER

    @property
    def ref(self) -> InvoiceRef:
        return InvoiceRef(account_number=self.account_number, invoice_number=self.invoice_number)


def _no_repeats(selections: list[InvoiceSelection]) -> list[InvoiceSelection]:
    repeated = [ref for ref, count in Counter(s.ref for s in selections).items() if count > 1]
    if repeated:
        raise ValueError("each invoice may be named only once")
    return selections


class StartPaymentRequest(CamelModel):
    invoices: Annotated[
        list[InvoiceSelection],
        Field(
            min_length=1, max_length=MAX_INVOICES_PER_PAYMENT, description="The invoices to pay, 1 to 50, no repeats."
        ),
        AfterValidator(_no_repeats),
    ]


class StartPaymentResponse(CamelModel):
    payment_id: str
    status: Literal["PENDING", "DECLINED"] = Field(
        description="PENDING for a new session; an open session offered again may be DECLINED (the payer may retry)."
    )
    payment_url: str = Field(description="Invoice Cloud's hosted payment page: redirect the payer here.")
    amount_due: str = Field(description="Total of the invoices, two decimals.", examples=["125.40"])
    session_expires_at: datetime


# ---- the payment itself -------------------------------------------------------------------------


class PaymentLine(BaseModel):
    """One invoice of a payment: what was due when the session started and what has been paid."""

    model_config = ConfigDict(frozen=True)

    account_number: str
    invoice_number: str
    due_cents: int = Field(gt=0)
    paid_cents: int = Field(0, ge=0)
    minimum_cents: int | None = None
    allow_partial: bool | None = None

    @property
    def ref(self) -> InvoiceRef:
        return InvoiceRef(account_number=self.account_number, invoice_number=self.invoice_number)

    @property
    def unpaid_cents(self) -> int:
        return max(0, self.due_cents - self.paid_cents)


ReversalKind = Literal["VOID", "ACH_RETURN", "CHARGEBACK"]


class Reversal(BaseModel):
    """Money Invoice Cloud took back from an approved payment (a void, an ACH return, a chargeback),
    as its payment file reported it; ``invoices`` holds the cents taken back per ``ACCOUNT/INVOICE``."""

    model_config = ConfigDict(frozen=True)

    identity: str
    kind: ReversalKind
    cents: int = Field(gt=0)
    at: datetime
    payment_guid: str
    invoices: dict[str, int]


class Payment(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: str
    sub: str
    status: PaymentStatus
    lines: tuple[PaymentLine, ...] = Field(min_length=1)
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
    email: str | None = Field(None, repr=False)
    reversals: tuple[Reversal, ...] = ()
    version: int = 0

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
        return sum(reversal.cents for reversal in self.reversals)

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
    return payment.model_copy(
        update={"status": PaymentStatus.EXPIRED, "completed_at": now, "version": payment.version + 1}
    )


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
        case PaymentStatus.APPROVED if payment.reversals:
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


class PaymentViewInvoice(CamelModel):
    account_number: str
    invoice_number: str
    amount_due: str
    amount_paid: str | None = optional()


class ReversalView(CamelModel):
    kind: ReversalKind
    amount: str
    at: datetime


class PaymentView(CamelModel):
    payment_id: str
    receipt_reference: str = Field(
        description='A short reference for the payer to read and quote, derived from paymentId: "AVC-7KQ4-M2XD".'
    )
    status: PaymentStatus
    final: bool
    status_message: str
    biller_name: str
    biller_time_zone: str = Field(
        description="The biller's IANA time zone (e.g. America/New_York): show every time of this payment in it. "
        "The times themselves are RFC 3339 UTC."
    )
    payment_url: str | None = optional(
        "Invoice Cloud's page of this payment while its session is open and no result is in: continue there."
    )
    invoices_held_until: datetime | None = optional(
        "Until when this payment's invoices are held while it is not final: no other payment of them can start."
    )
    amount_due: str
    amount_paid: str | None = optional()
    convenience_fee: str | None = optional()
    payment_method: Literal["CARD", "ACH"] | None = optional()
    card_type: str | None = optional()
    authorization: str | None = optional("Invoice Cloud's PaymentMessage, e.g. an approval code; keep it for disputes.")
    invoice_cloud_payment_ids: list[str] | None = optional()
    created_at: datetime
    session_expires_at: datetime
    completed_at: datetime | None = optional()
    reversals: list[ReversalView] | None = optional("Money Invoice Cloud took back: voids, bank returns, chargebacks.")
    invoices: list[PaymentViewInvoice]

    @classmethod
    def of(
        cls,
        payment: Payment,
        *,
        biller_name: str,
        now: datetime,
        ach_return_days: int = 5,
        biller_time_zone: str = "America/New_York",
        grace_minutes: int = 15,
    ) -> PaymentView:
        any_paid = payment.amount_paid_cents > 0
        final = payment.is_final(now)
        continuable = payment.status in (PaymentStatus.PENDING, PaymentStatus.DECLINED) and payment.session_open(now)
        return cls(
            payment_id=payment.payment_id,
            receipt_reference=receipt_reference(payment.payment_id),
            status=payment.status,
            final=final,
            status_message=status_message(payment, now, ach_return_days),
            biller_name=biller_name,
            biller_time_zone=biller_time_zone,
            payment_url=payment.payment_url if continuable else None,
            invoices_held_until=None
            if final or not payment.status.holds_session
            else payment.session_expires_at + timedelta(minutes=grace_minutes),
            amount_due=money.cents_to_text(payment.amount_due_cents),
            amount_paid=money.cents_to_text(payment.amount_paid_cents) if any_paid else None,
            convenience_fee=money.cents_to_text(payment.convenience_fee_cents)
            if payment.convenience_fee_cents
            else None,
            payment_method=payment.payment_method,
            card_type=payment.card_type or None,
            authorization=payment.authorization or None,
            invoice_cloud_payment_ids=list(payment.ic_payment_ids) or None,
            created_at=payment.created_at,
            session_expires_at=payment.session_expires_at,
            completed_at=payment.completed_at,
            reversals=[
                ReversalView(kind=r.kind, amount=money.cents_to_text(r.cents), at=r.at) for r in payment.reversals
            ]
            or None,
            invoices=[
                PaymentViewInvoice(
                    account_number=line.account_number,
                    invoice_number=line.invoice_number,
                    amount_due=money.cents_to_text(line.due_cents),
                    amount_paid=money.cents_to_text(line.paid_cents) if any_paid else None,
                )
                for line in payment.lines
            ],
        )


class PaymentListResponse(CamelModel):
    payments: list[PaymentView]
    next_cursor: str | None = optional("Pass as ?cursor= for the next page; absent on the last page.")
