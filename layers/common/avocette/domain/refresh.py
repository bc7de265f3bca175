"""What Invoice Cloud's balance refresh tells it about an account (DESIGN §3, §5): its open invoices with
what is due on each now, and the account's total.

The balance is §5's payable rule, without our session holds: billed, less the credits the billing file
cannot reflect yet, net of reversals. A hold is only our own guard against paying an invoice twice
while a session is open; the invoice is still due at Invoice Cloud, and its payer may pay it there.
Invoice Cloud shows no credit balances (it shows $0 or a balance due), so an invoice billed below
zero is due 0.00, and the account's credit lowers its oldest invoices as in GET /accounts and in the
CPV2 request (§5, "the account's credit"): what Invoice Cloud shows due is what our portal charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from avocette.domain.billing import AccountPayable, Invoice, account_payable, billing_order

__all__ = ["AccountBalances", "InvoiceBalance", "account_balances"]


@dataclass(frozen=True)
class InvoiceBalance:
    """One open invoice as Invoice Cloud should show it."""

    invoice_number: str
    invoice_date: date | None
    due_date: date | None
    billed_cents: int  # what the bill says (negative: a credit)
    balance_due_cents: int  # what is due now, never below zero
    minimum_amount_due_cents: int | None  # the bill's minimum, never above what is due
    allow_partial_payments: bool

    @property
    def paid_in_full(self) -> bool:
        return self.balance_due_cents == 0


@dataclass(frozen=True)
class AccountBalances:
    account_number: str
    as_of: datetime
    total_due_cents: int
    invoices: tuple[InvoiceBalance, ...]


def _balance(invoice: Invoice, owed: AccountPayable) -> InvoiceBalance:
    due = owed.payable_cents(invoice.ref)
    minimum = invoice.minimum_amount_due_cents
    return InvoiceBalance(
        invoice_number=invoice.invoice_number,
        invoice_date=invoice.invoice_date,
        due_date=invoice.due_date,
        billed_cents=invoice.billed_cents,
        balance_due_cents=due,
        minimum_amount_due_cents=min(minimum, due) if minimum is not None else None,
        allow_partial_payments=bool(invoice.allow_partial_payments),
    )


def account_balances(account_number: str, invoices: list[Invoice], as_of: datetime) -> AccountBalances:
    """The account's open invoices (those a full billing file closed are gone from the bill), soonest
    due first, each with what is due now; those paid in full stay listed, at 0.00, so that Invoice
    Cloud's copy of them changes too."""
    open_invoices = sorted((invoice for invoice in invoices if invoice.closed_at is None), key=billing_order)
    owed = account_payable(open_invoices)
    return AccountBalances(
        account_number=account_number,
        as_of=as_of,
        total_due_cents=owed.total_cents,
        invoices=tuple(_balance(invoice, owed) for invoice in open_invoices),
    )
