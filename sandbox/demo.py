"""Demo users, accounts, invoices and links (DESIGN §8), for people and tests alike.

The accounts and invoices are a billing file (data/billing/), loaded through the same import code as
the import_billing function; the users, their links and Invoice Cloud's customer records are in
data/users.json.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from avocette.biller.billing_file import parse_key
from avocette.service.billing_import import ImportReport, ImportRules, ImportStatus, import_billing
from avocette.store import links

from sandbox.invoicecloud import CopiedInvoice, CustomerRecord

__all__ = [
    "BILLING_FILE",
    "DemoAccount",
    "DemoUser",
    "demo_accounts",
    "demo_customer_records",
    "demo_invoice_load",
    "demo_users",
    "load_demo_data",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
BILLING_FILE = DATA_DIR / "billing" / "20261101T060000Z-full.csv"
USERS_FILE = DATA_DIR / "users.json"


@dataclass(frozen=True)
class DemoUser:
    sub: str
    email: str
    linked_accounts: tuple[str, ...]


@dataclass(frozen=True)
class DemoAccount:
    """An account's profile as the demo billing file has it (its first row)."""

    number: str
    name: str
    address: str
    city: str
    state: str
    zip: str
    email: str
    registration_value: str


@lru_cache(maxsize=1)
def _users_file() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(USERS_FILE.read_text(encoding="utf-8"))
    return loaded


def demo_users() -> dict[str, DemoUser]:
    return {
        sub: DemoUser(sub=sub, email=user["email"], linked_accounts=tuple(user["linkedAccounts"]))
        for sub, user in _users_file()["users"].items()
    }


def demo_accounts() -> dict[str, DemoAccount]:
    accounts: dict[str, DemoAccount] = {}
    with BILLING_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            accounts.setdefault(
                row["AccountNumber"],
                DemoAccount(
                    number=row["AccountNumber"],
                    name=row["Name"],
                    address=row["Address"],
                    city=row["City"],
                    state=row["State"],
                    zip=row["Zip"],
                    email=row["EmailAddress"],
                    registration_value=row["RegistrationValue"],
                ),
            )
    return accounts


def demo_customer_records() -> list[CustomerRecord]:
    """Invoice Cloud's records of the demo accounts (an account not listed has none)."""
    accounts = demo_accounts()
    records = []
    for number, record in _users_file()["invoiceCloudRecords"].items():
        account = accounts[number]
        records.append(
            CustomerRecord(
                account_number=number,
                registered=bool(record["registered"]),
                registration_date=record.get("registrationDate"),
                login_name=record.get("loginName"),
                customer_name=account.name,
                email_address=account.email,
                address1=account.address,
                city=account.city,
                state=account.state,
                zip=account.zip,
            )
        )
    return records


def demo_invoice_load() -> tuple[dict[str, list[CopiedInvoice]], datetime]:
    """The demo billing file as the biller's invoice load gave it to Invoice Cloud: each account's invoices
    with their balances (what Invoice Cloud shows until a balance refresh), and the file's as-of time."""
    load: dict[str, list[CopiedInvoice]] = {}
    with BILLING_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            due = datetime.strptime(row["DueDate"], "%m/%d/%Y").date() if row["DueDate"] else None
            load.setdefault(row["AccountNumber"], []).append(
                CopiedInvoice(row["InvoiceNumber"], due, Decimal(row["BalanceDue"]))
            )
    as_of: datetime = parse_key(f"billing/{BILLING_FILE.name}")[0]
    return load, as_of


def load_demo_data() -> ImportReport:
    """Import the demo billing file, then link the demo users to their accounts."""
    with BILLING_FILE.open(encoding="utf-8", newline="") as handle:
        report = import_billing(handle, key=f"billing/{BILLING_FILE.name}", rules=ImportRules.from_environment())
    if report.status is not ImportStatus.IMPORTED or report.bad_row_count:
        raise RuntimeError(f"the demo billing file did not import cleanly: {report.summary()}")
    as_of: datetime = parse_key(f"billing/{BILLING_FILE.name}")[0]
    for user in demo_users().values():
        for number in user.linked_accounts:
            links.put_link(links.Link(sub=user.sub, account_number=number, linked_at=as_of))
    return report
