"""Session state: a CPV2 request as received, its invoices, and every payment attempt made on it.

Plain data, no locking: the simulator holds its lock around every read and change of a session.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sandbox.invoicecloud import pages
from sandbox.invoicecloud.amounts import dollars, money
from sandbox.invoicecloud.clock import rfc3339

__all__ = [
    "Attempt",
    "DeliveryRecord",
    "InvoiceLine",
    "MethodKind",
    "PaidLine",
    "PaymentMethod",
    "Session",
    "billing_from_request",
    "card_brand",
    "invoice_lines",
    "method_kind",
    "total",
]

MethodKind = Literal["CARD", "ACH"]


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice of a session, flattened from ``Customers[i].Invoices[j]``; ``key`` is ``"i-j"``."""

    key: str
    customer_index: int
    account_number: str
    display_account_number: str
    invoice_number: str
    invoice_date: str
    due_date: str
    balance_due: Decimal
    cc_fee: Decimal
    ach_fee: Decimal
    allow_partial: bool = False
    minimum_due: Decimal | None = None
    statement_url: str = ""  # the link to the bill the biller sent, if any (DESIGN §6g)

    def fee_for(self, kind: MethodKind) -> Decimal:
        return self.cc_fee if kind == "CARD" else self.ach_fee

    @property
    def part_payable(self) -> bool:
        """AllowPartialPayments, and something to pay part of: a zero balance gets no amount field."""
        return self.allow_partial and self.balance_due > 0

    @property
    def effective_minimum(self) -> Decimal | None:
        """MinimumAmountDue, capped at the balance: a minimum above it cannot be met, the balance can."""
        return min(self.minimum_due, self.balance_due) if self.minimum_due else None

    def amount_problem(self, amount: Decimal, *, enforce_minimum: bool) -> str | None:
        """Why ``amount`` cannot be paid on this invoice, worded for the payer; ``None`` when it can."""
        if amount <= 0:
            return "Enter an amount greater than $0.00."
        if amount > self.balance_due:
            return f"Enter at most the balance, {dollars(self.balance_due)}."
        minimum = self.effective_minimum
        if enforce_minimum and minimum is not None and amount < minimum:
            return f"Enter at least the minimum amount due, {dollars(minimum)}."
        return None


@dataclass(frozen=True)
class PaidLine:
    """One invoice of a payment attempt and the amount paid on it (its balance, or a part of it)."""

    line: InvoiceLine
    amount: Decimal


@dataclass(frozen=True)
class PaymentMethod:
    """What a payment keeps of the payer's card or bank account: the brand and the last four digits."""

    kind: MethodKind
    card_type: str
    last4: str

    @property
    def description(self) -> str:
        if self.kind == "CARD":
            return f"{self.card_type} ending in {self.last4}"
        return f"Bank account ending in {self.last4}"


def card_brand(number: str) -> str:
    """The card type Invoice Cloud reports in CardType, from the number's prefix."""
    if number.startswith("4"):
        return "Visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "MasterCard"
    if number[:2] in {"34", "37"}:
        return "American Express"
    if number.startswith(("6011", "65")):
        return "Discover"
    return "Card"


def method_kind(value: str) -> MethodKind | None:
    if value == "CARD":
        return "CARD"
    if value == "ACH":
        return "ACH"
    return None


@dataclass
class DeliveryRecord:
    """One postback to send (a duplicate is its own record), with every try to send it."""

    fields: dict[str, str]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "attempts": [dict(a) for a in self.attempts], "delivered": self.delivered}


@dataclass
class Attempt:
    """One press of "Pay": approved or declined, with the postbacks it caused."""

    payment_guid: str
    approved: bool
    method: PaymentMethod
    payment_type_id: str
    paid: tuple[PaidLine, ...]
    fee: Decimal
    at: datetime
    after_expiry: bool = False
    authorization: str | None = None  # the approval code, for an approved attempt only
    postbacks: list[DeliveryRecord] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def amount(self) -> Decimal:
        return sum((item.amount for item in self.paid), Decimal(0))

    @property
    def payment_message(self) -> str:
        return f"APPROVED {self.authorization}" if self.approved else "DECLINED"

    def to_json(self) -> dict[str, Any]:
        return {
            "paymentGuid": self.payment_guid,
            "approved": self.approved,
            "authorization": self.authorization,
            "paymentMessage": self.payment_message,
            "method": self.method.kind,
            "paymentTypeId": self.payment_type_id,
            "cardType": self.method.card_type,
            "last4": self.method.last4,
            "amount": money(self.amount),
            "fee": money(self.fee),
            "at": rfc3339(self.at),
            "afterExpiry": self.after_expiry,
            "invoices": [
                {
                    "accountNumber": item.line.account_number,
                    "invoiceNumber": item.line.invoice_number,
                    "amount": money(item.amount),
                    "balanceDue": money(item.line.balance_due),
                }
                for item in self.paid
            ],
        }


@dataclass
class Session:
    """One CPV2 session: the request as received and everything the payer did with it."""

    session_id: str
    request: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    lines: tuple[InvoiceLine, ...]
    billing: pages.BillingForm
    removed: list[str] = field(default_factory=list)
    amounts: dict[str, Decimal] = field(default_factory=dict)  # part payments chosen, by line key
    attempts: list[Attempt] = field(default_factory=list)
    postbacks: list[DeliveryRecord] = field(default_factory=list)
    first_guid: str | None = None
    notice: str = ""
    discarded: threading.Event = field(default_factory=threading.Event)

    def state(self, now: datetime) -> str:
        if self.approved_attempt() is not None:
            return "APPROVED"
        return "EXPIRED" if now >= self.expires_at else "OPEN"

    def approved_attempt(self) -> Attempt | None:
        return next((attempt for attempt in self.attempts if attempt.approved), None)

    def selected_lines(self) -> tuple[InvoiceLine, ...]:
        return tuple(line for line in self.lines if line.key not in self.removed)

    def amount_for(self, line: InvoiceLine) -> Decimal:
        """What the payer pays on ``line``: the amount chosen when it may be part-paid, else the balance."""
        return self.amounts.get(line.key, line.balance_due) if line.part_payable else line.balance_due

    def paid_lines(self) -> tuple[PaidLine, ...]:
        return tuple(PaidLine(line, self.amount_for(line)) for line in self.selected_lines())

    def requested_lines(self, customer_index: int | None = None) -> tuple[InvoiceLine, ...]:
        """The request's invoices in its order, removed ones included (of one customer, if given)."""
        return tuple(line for line in self.lines if customer_index in (None, line.customer_index))

    def customers(self) -> list[dict[str, Any]]:
        return list(self.request["Customers"])

    @property
    def allow_remove(self) -> bool:
        options = self.request.get("PageResultOptions", {}).get("InvoiceOptions", {})
        return options.get("AllowRemove") is True

    def allows(self, kind: MethodKind) -> bool:
        name = "AllowCCPayment" if kind == "CARD" else "AllowACHPayment"
        return self.request.get(name) is not False

    @property
    def return_url(self) -> str:
        return str(self.request.get("ReturnURL", ""))

    @property
    def postback_url(self) -> str:
        return str(self.request.get("PostBackURL", ""))

    @property
    def biller_reference(self) -> str:
        return str(self.request.get("BillerReference", ""))


def invoice_lines(request: Mapping[str, Any], *, statement_link_field: str | None = None) -> tuple[InvoiceLine, ...]:
    lines = []
    for customer_index, customer in enumerate(request["Customers"]):
        account = customer["AccountNumber"]
        display = customer.get("DisplayAccountNumber") or account
        for invoice_index, invoice in enumerate(customer.get("Invoices", [])):
            lines.append(
                InvoiceLine(
                    key=f"{customer_index}-{invoice_index}",
                    customer_index=customer_index,
                    account_number=account,
                    display_account_number=display,
                    invoice_number=invoice["InvoiceNumber"],
                    invoice_date=invoice.get("InvoiceDate", ""),
                    due_date=invoice.get("DueDate", ""),
                    balance_due=Decimal(invoice.get("BalanceDue", 0)),
                    cc_fee=Decimal(invoice.get("CCServiceFee", 0)),
                    ach_fee=Decimal(invoice.get("ACHServiceFee", 0)),
                    allow_partial=invoice.get("AllowPartialPayments") is True,
                    minimum_due=Decimal(invoice["MinimumAmountDue"]) if "MinimumAmountDue" in invoice else None,
                    statement_url=str(invoice.get(statement_link_field) or "") if statement_link_field else "",
                )
            )
    return tuple(lines)


def billing_from_request(request: Mapping[str, Any]) -> pages.BillingForm:
    first = request["Customers"][0]
    return pages.BillingForm(
        name=first.get("Name", ""),
        address=first.get("Address", ""),
        city=first.get("City", ""),
        state=first.get("State", ""),
        zip=first.get("Zip", ""),
        email=first.get("EmailAddress", ""),
    )


def total(lines: Iterable[InvoiceLine]) -> Decimal:
    """The lines' balances (what is owed, not what is being paid: see ``Session.paid_lines``)."""
    return sum((line.balance_due for line in lines), Decimal(0))
