"""The ledger: every credit and reversal, by the day it was recorded (DESIGN §6d, §6e).

Each money event — an applied postback (received or recovered from Invoice Cloud's payment file),
a review decision, a reversal — writes one ledger entry in the same transaction as its credits. The
biller's daily export reads a day's entries; the reconciliation marks the entries Invoice Cloud's
payment file confirmed, and reports the applied postbacks no file listed within
``RECONCILE_MISSING_DAYS`` (a forged or mis-sent postback: money that never moved).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from avocette import clock
from avocette.domain.billing import CreditKind

__all__ = ["LedgerEntry", "LedgerSource"]

LedgerSource = str  # "postback" | "file" | "review" | "reversal"


@dataclass(frozen=True)
class LedgerEntry:
    """One money event. ``credit_key`` is the key of its credit on each invoice it touched;
    ``invoices`` holds its cents per ``ACCOUNT/INVOICE`` (negative for a reversal)."""

    at: datetime
    credit_key: str
    payment_id: str
    kind: CreditKind
    payment_guid: str
    method: str | None
    source: LedgerSource
    invoices: Mapping[str, int] = field(default_factory=dict)
    confirmed_by: str | None = None  # the key of the Invoice Cloud payment file that listed it
    exported_at: datetime | None = None

    @property
    def day(self) -> str:
        return clock.timestamp(self.at)[:10]

    @property
    def sort_key(self) -> str:
        return f"{clock.timestamp(self.at)}#{self.credit_key}"

    @property
    def cents(self) -> int:
        return sum(self.invoices.values())
