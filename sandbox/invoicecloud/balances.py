"""What Invoice Cloud shows a payer of an account's bills, and how it pulls fresher balances from the biller.

Invoice Cloud keeps its own copy of each account's invoices: the biller's last invoice load, until a
balance refresh (the seed's "Real-Time Data Refresh") replaces it with what the biller answers. Its
public limits: no new pull within hours of a successful one, and no refresh of an invoice paid at
Invoice Cloud in the last day (the biller's system may not know of that payment yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from sandbox.invoicecloud.amounts import money
from sandbox.invoicecloud.clock import rfc3339

__all__ = ["REFRESH_AUTH_SCHEMES", "AccountCopy", "CopiedInvoice", "RefreshState", "RefreshTarget"]

REFRESH_AUTH_SCHEMES: Final = ("basic", "header", "hmac")


@dataclass(frozen=True)
class RefreshTarget:
    """Where and how Invoice Cloud calls the biller's balance refresh, as the biller set it up with
    Invoice Cloud: the URL (``{accountNumber}`` percent-encoded into it), the credential and its scheme
    (``IC_REFRESH_AUTH``), and the answer's format (``IC_REFRESH_FORMAT``)."""

    url_template: str
    auth: Literal["basic", "header", "hmac"]
    username: str
    secret: str = field(repr=False)
    header: str = "X-Api-Key"
    format_name: str = "invoicecloud-refresh-v1"
    timeout_seconds: float = 10.0


@dataclass
class CopiedInvoice:
    """One invoice as Invoice Cloud shows it. ``paid_here_at``: when Invoice Cloud itself last took a
    payment for it (its customer portal, AutoPay, a phone payment); a refresh leaves it alone for a day."""

    invoice_number: str
    due_date: date | None
    balance_due: Decimal
    paid_here_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "invoiceNumber": self.invoice_number,
            "dueDate": self.due_date.strftime("%m/%d/%Y") if self.due_date else None,
            "balanceDue": money(self.balance_due),
            "status": "DUE" if self.balance_due > 0 else "PAID",
            "paidHereAt": rfc3339(self.paid_here_at) if self.paid_here_at else None,
        }


@dataclass
class AccountCopy:
    """Invoice Cloud's copy of one account's invoices: from the biller's invoice load, or from a refresh."""

    invoices: dict[str, CopiedInvoice]
    source: Literal["load", "refresh"]
    as_of: datetime


@dataclass
class RefreshState:
    """The balance refreshes of one account: the last that worked, the last tried, and why it failed."""

    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "lastRefreshedAt": rfc3339(self.last_success_at) if self.last_success_at else None,
            "lastAttemptAt": rfc3339(self.last_attempt_at) if self.last_attempt_at else None,
            "lastFailure": self.last_failure,
        }
