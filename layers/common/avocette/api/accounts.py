"""GET /accounts: a user's linked accounts, their open invoices and what is payable (DESIGN §3, §5)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from avocette import money
from avocette.api.common import CamelModel, optional
from avocette.domain.accounts import account_total_cents
from avocette.domain.billing import Account, Invoice

__all__ = ["AccountView", "AccountsResponse", "InvoiceView"]


class InvoiceView(CamelModel):
    invoice_number: str
    invoice_date: date | None
    due_date: date | None
    balance_due: str = Field(description="What the bill says (negative: a credit).")
    minimum_amount_due: str | None = optional()
    allow_partial_payments: bool
    payable: str = Field(description="What can be paid now: the bill less payments it does not show yet.")
    last_session_ended_without_result_at: datetime | None = optional(
        "When a payment session of this invoice ended in the past 24 hours without a result from Invoice "
        "Cloud: the payer may have paid. Before paying it again, ask them to check (their receipt, their card "
        "or bank statement)."
    )
    has_statement: bool = Field(
        False,
        description="Whether the biller sent this bill as a PDF: "
        "GET /accounts/{accountNumber}/invoices/{invoiceNumber}/statement opens it.",
    )

    @classmethod
    def of(cls, invoice: Invoice, now: datetime) -> InvoiceView:
        minimum = invoice.minimum_amount_due_cents
        return cls(
            invoice_number=invoice.invoice_number,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            balance_due=money.cents_to_text(invoice.billed_cents),
            minimum_amount_due=money.cents_to_text(minimum) if minimum is not None else None,
            allow_partial_payments=bool(invoice.allow_partial_payments),
            payable=money.cents_to_text(invoice.payable_cents()),
            last_session_ended_without_result_at=invoice.unresolved_since(now),
            has_statement=invoice.statement_file is not None,
        )


def _open_invoices(invoices: list[Invoice]) -> list[Invoice]:
    """Invoices still on the bill (a full billing file closes the others), soonest due first."""
    return sorted(
        (invoice for invoice in invoices if invoice.closed_at is None),
        key=lambda invoice: (invoice.due_date or date.max, invoice.invoice_number),
    )


class AccountView(CamelModel):
    account_number: str
    name: str
    total_due: str = Field(
        description="What the account owes: its invoices' payable amounts less its credit balances, never below 0."
    )
    invoices: list[InvoiceView]


class AccountsResponse(CamelModel):
    accounts: list[AccountView]
    total_due: str = Field(description="What is payable on all linked accounts.")

    @classmethod
    def of(cls, accounts: list[tuple[Account, list[Invoice]]], now: datetime) -> AccountsResponse:
        views = []
        total = 0
        for account, invoices in accounts:
            open_invoices = _open_invoices(invoices)
            payable = account_total_cents(open_invoices)
            total += payable
            views.append(
                AccountView(
                    account_number=account.account_number,
                    name=account.name,
                    total_due=money.cents_to_text(payable),
                    invoices=[InvoiceView.of(invoice, now) for invoice in open_invoices],
                )
            )
        return cls(accounts=views, total_due=money.cents_to_text(total))
