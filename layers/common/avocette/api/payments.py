"""POST /payments, GET /payments and GET /payments/{paymentId}: the request and the views (DESIGN §3)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from avocette import money
from avocette.api.common import ACCOUNT_NUMBER, INVOICE_NUMBER, CamelModel, optional
from avocette.domain.billing import InvoiceRef
from avocette.domain.payments import (
    MAX_INVOICES_PER_PAYMENT,
    Payment,
    PaymentStatus,
    ReversalKind,
    receipt_reference,
    status_message,
)

__all__ = [
    "InvoiceSelection",
    "PaymentListResponse",
    "PaymentView",
    "PaymentViewInvoice",
    "ReversalView",
    "StartPaymentRequest",
    "StartPaymentResponse",
]


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


class PaymentViewInvoice(CamelModel):
    account_number: str
    invoice_number: str
    amount_due: str
    amount_paid: str | None = optional()
    credit_applied: str | None = optional(
        "How much of the account's credit balance lowered amountDue when the payment started (DESIGN §5). "
        "Absent when none."
    )


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
                    credit_applied=money.cents_to_text(line.account_credit_cents)
                    if line.account_credit_cents
                    else None,
                )
                for line in payment.lines
            ],
        )


class PaymentListResponse(CamelModel):
    payments: list[PaymentView]
    next_cursor: str | None = optional("Pass as ?cursor= for the next page; absent on the last page.")
