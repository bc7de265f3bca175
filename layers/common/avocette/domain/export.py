"""The biller's daily export (DESIGN §6e): what the billing system must post, from the ledger.

One row per invoice of each credit and reversal recorded on the day, in a fixed order, so that the
file of a day is the same bytes however often it is made. Payments are positive, reversals negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from avocette.domain.ledger import LedgerEntry

__all__ = ["ExportRow", "export_rows"]


@dataclass(frozen=True, order=True)
class ExportRow:
    account_number: str
    invoice_number: str
    at: datetime
    reversal: bool  # at the same moment, a payment's row comes before a reversal of it
    credit_key: str
    cents: int
    payment_guid: str
    method: str
    kind: str
    payment_id: str


def export_rows(entries: Iterable[LedgerEntry]) -> list[ExportRow]:
    """Each entry's cents per invoice, ordered by account, invoice, time (payments before reversals at
    the same moment) and credit."""
    rows = [
        ExportRow(
            account_number=ref.split("/", 1)[0],
            invoice_number=ref.split("/", 1)[1],
            at=entry.at,
            reversal=entry.kind != "PAYMENT",
            credit_key=entry.credit_key,
            cents=cents,
            payment_guid=entry.payment_guid,
            method=entry.method or "",
            kind=entry.kind,
            payment_id=entry.payment_id,
        )
        for entry in entries
        for ref, cents in entry.invoices.items()
        if cents
    ]
    return sorted(rows)
