"""Demo users, accounts, invoices and links (DESIGN §8), for people and tests alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from avocette import money
from avocette.domain.billing import Account, Invoice
from avocette.store import billing, links

__all__ = ["DEMO_ACCOUNTS", "DEMO_USERS", "DemoAccount", "load_demo_data"]


@dataclass(frozen=True)
class DemoInvoice:
    number: str
    amount: str
    invoice_date: date
    due_date: date


@dataclass(frozen=True)
class DemoAccount:
    number: str
    name: str
    address: str
    city: str
    state: str
    zip: str
    email: str
    registration_value: str
    invoices: tuple[DemoInvoice, ...]
    linked_to: tuple[str, ...] = ()
    # None: no customer record at Invoice Cloud; else whether it is registered there
    ic_registered: bool | None = True


DEMO_USERS = {"alice": "alice@example.com", "bob": "bob@example.com", "carol": "carol@example.com"}

_OCT, _NOV = date(2026, 10, 28), date(2026, 11, 1)
DEMO_ACCOUNTS = (
    DemoAccount(
        "ACCT-1001", "Alice Anders", "12 Orchard Lane", "Tampa", "FL", "33602", "alice@example.com", "1001-REG",
        (
            DemoInvoice("INV-1001-1", "84.20", _OCT, date(2026, 12, 15)),
            DemoInvoice("INV-1001-2", "42.15", _NOV, date(2026, 12, 20)),
        ),
        linked_to=("alice",),
    ),
    DemoAccount(
        "ACCT-1002", "Alice Anders", "40 Bayshore Blvd", "Tampa", "FL", "33606", "alice@example.com", "1002-REG",
        (DemoInvoice("INV-1002-1", "120.00", _OCT, date(2026, 12, 10)),),
        linked_to=("alice",),
    ),
    DemoAccount(
        "ACCT-2001", "Bob Brennan", "7 Harbor Street", "St. Petersburg", "FL", "33701", "bob@example.com", "2001-REG",
        (DemoInvoice("INV-2001-1", "63.75", _OCT, date(2026, 12, 12)),),
        linked_to=("bob",),
    ),
    DemoAccount(
        "ACCT-3001", "Carol Castillo", "901 Palm Avenue", "Clearwater", "FL", "33755", "carol@example.com", "3001-REG",
        (DemoInvoice("INV-3001-1", "55.10", _NOV, date(2026, 12, 18)),),
        ic_registered=False,
    ),
    DemoAccount(
        "ACCT-3002", "Carol Castillo", "14 Gulf Drive", "Clearwater", "FL", "33767", "carol@example.com", "3002-REG",
        (DemoInvoice("INV-3002-1", "99.99", _NOV, date(2026, 12, 22)),),
        ic_registered=None,
    ),
)  # fmt: skip

BILLED_AS_OF = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def load_demo_data() -> None:
    for demo in DEMO_ACCOUNTS:
        billing.put_account(
            Account(
                account_number=demo.number,
                name=demo.name,
                address=demo.address,
                city=demo.city,
                state=demo.state,
                zip=demo.zip,
                email=demo.email,
                billed_as_of=BILLED_AS_OF,
            )
        )
        for invoice in demo.invoices:
            billing.put_invoice(
                Invoice(
                    account_number=demo.number,
                    invoice_number=invoice.number,
                    invoice_date=invoice.invoice_date,
                    due_date=invoice.due_date,
                    billed_cents=money.parse_cents(invoice.amount),
                    billed_as_of=BILLED_AS_OF,
                )
            )
        for sub in demo.linked_to:
            links.put_link(links.Link(sub=sub, account_number=demo.number, linked_at=BILLED_AS_OF))
