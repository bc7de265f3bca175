"""GET /accounts: a user's linked accounts, their open invoices and what is payable (DESIGN §3, §5)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from avocette import money
from avocette.api.common import CamelModel, optional
from avocette.domain.billing import Account, AccountPayable, Invoice, account_payable, billing_order

__all__ = ["AccountView", "AccountsResponse", "InvoiceView"]


class InvoiceView(CamelModel):
    invoice_number: str
    invoice_date: date | None
    due_date: date | None
    balance_due: str = Field(description="What the bill says (negative: a credit invoice, what the biller owes).")
    minimum_amount_due: str | None = optional()
    allow_partial_payments: bool
    payable: str = Field(
        description="What can be paid now, and what a payment of this invoice charges: the bill less payments it "
        "does not show yet, less the account's credit applied to it (creditApplied)."
    )
    credit_applied: str | None = optional(
        "How much of the account's credit balance (its credit invoices) lowers this invoice's payable amount; "
        "the credit goes to the oldest invoices first. Absent when none."
    )
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
    def of(cls, invoice: Invoice, owed: AccountPayable, now: datetime) -> InvoiceView:
        minimum = invoice.minimum_amount_due_cents
        applied = owed.applied_to(invoice.ref)
        return cls(
            invoice_number=invoice.invoice_number,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            balance_due=money.cents_to_text(invoice.billed_cents),
            minimum_amount_due=money.cents_to_text(minimum) if minimum is not None else None,
            allow_partial_payments=bool(invoice.allow_partial_payments),
            payable=money.cents_to_text(owed.payable_cents(invoice.ref)),
            credit_applied=money.cents_to_text(applied) if applied else None,
            last_session_ended_without_result_at=invoice.unresolved_since(now),
            has_statement=invoice.statement_file is not None,
        )


def _open_invoices(invoices: list[Invoice]) -> list[Invoice]:
    """Invoices still on the bill (a full billing file closes the others), oldest (soonest due) first."""
    return sorted((invoice for invoice in invoices if invoice.closed_at is None), key=billing_order)


class AccountView(CamelModel):
    account_number: str
    name: str
    total_due: str = Field(
        description="What the account owes: its invoices' payable amounts, its credit balance already applied "
        "to them, never below 0."
    )
    credit_applied: str | None = optional(
        "How much of the account's credit balance lowers its invoices' payable amounts. Absent when none."
    )
    credit_remaining: str | None = optional(
        "Credit balance left over once every invoice's payable amount is 0 (the biller carries it to the next "
        "bill). Absent when none."
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
            owed = account_payable(open_invoices)
            total += owed.total_cents
            views.append(
                AccountView(
                    account_number=account.account_number,
                    name=account.name,
                    total_due=money.cents_to_text(owed.total_cents),
                    credit_applied=money.cents_to_text(owed.applied_cents) if owed.applied_cents else None,
                    credit_remaining=money.cents_to_text(owed.unused_cents) if owed.unused_cents else None,
                    invoices=[InvoiceView.of(invoice, owed, now) for invoice in open_invoices],
                )
            )
        return cls(accounts=views, total_due=money.cents_to_text(total))
