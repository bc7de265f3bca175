"""Billing data: accounts and invoices as the biller's files describe them, and what is payable.

Billed values come only from billing files (``billedCents`` as of ``billedAsOf``); credits come only
from approved postbacks. What a payer may still pay is the billed amount less the credits the
biller's file cannot yet know about (DESIGN §5).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Account", "Credit", "Invoice", "InvoiceRef"]


class InvoiceRef(BaseModel):
    """An invoice named by its account and number (invoice numbers are unique only per account)."""

    model_config = ConfigDict(frozen=True)

    account_number: str
    invoice_number: str

    def __str__(self) -> str:
        return f"{self.account_number}/{self.invoice_number}"


class Account(BaseModel):
    """An account's profile from the billing file. ``name`` and the address are payer PII."""

    model_config = ConfigDict(frozen=True)

    account_number: str
    name: str = ""
    address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    email: str = ""
    registration_hash: str = Field("", repr=False)
    billed_as_of: datetime | None = None


class Credit(BaseModel):
    """Money an approved postback applied to an invoice, by payment."""

    model_config = ConfigDict(frozen=True)

    cents: int
    approved_at: datetime


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_number: str
    invoice_number: str
    invoice_date: date | None = None
    due_date: date | None = None
    type_id: int | None = None
    cc_service_fee_cents: int | None = None
    ach_service_fee_cents: int | None = None
    minimum_amount_due_cents: int | None = None
    allow_partial_payments: bool | None = None
    billed_cents: int
    billed_as_of: datetime
    closed_at: datetime | None = None
    credits: dict[str, Credit] = Field(default_factory=dict)
    open_payment_id: str | None = None
    open_until: datetime | None = None

    @property
    def ref(self) -> InvoiceRef:
        return InvoiceRef(account_number=self.account_number, invoice_number=self.invoice_number)

    def unbilled_credit_cents(self, settlement_lag_hours: int) -> int:
        """Credits approved after the file's as-of time less the settlement lag: the file does not
        reflect them yet, so they still reduce what is payable."""
        cutoff = self.billed_as_of - timedelta(hours=settlement_lag_hours)
        return sum(credit.cents for credit in self.credits.values() if credit.approved_at > cutoff)

    def payable_cents(self, settlement_lag_hours: int) -> int:
        """max(0, billed − credits not yet reflected); a closed invoice or a credit balance is 0."""
        if self.closed_at is not None:
            return 0
        return max(0, self.billed_cents - self.unbilled_credit_cents(settlement_lag_hours))

    def held_by(self, now: datetime) -> str | None:
        """The payment whose open session holds this invoice at ``now``, if any."""
        if self.open_payment_id and self.open_until and self.open_until > now:
            return self.open_payment_id
        return None
