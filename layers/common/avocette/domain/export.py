"""The biller's daily export (DESIGN §6e): what the billing system must post, from the ledger.

One row per invoice of each credit and reversal recorded on the day, in a fixed order, so that the
file of a day is the same bytes however often it is made. Payments are positive, reversals negative
(a chargeback reversal gives back: positive). Each row carries the payer's payment date (what late
fees are judged by), the date Invoice Cloud gives the row's own money, the method and card type,
and a reversal's reason code; the convenience fee an entry added goes on its first row alone, so that
every cent of the ledger appears in exactly one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from avocette.domain.billing import InvoiceRef
from avocette.domain.ledger import LedgerEntry

__all__ = ["ExportRow", "ExportedRow", "export_rows"]


@dataclass(frozen=True, order=True)
class ExportRow:
    account_number: str
    invoice_number: str
    at: datetime  # when we recorded it
    reversal: bool  # at the same moment, a payment's row comes before a reversal of it
    credit_key: str
    cents: int
    payment_guid: str
    method: str
    kind: str
    payment_id: str
    paid_at: datetime  # the payer's payment moment (Invoice Cloud's), or when we recorded it
    occurred_at: datetime  # when Invoice Cloud says this row's money moved
    card_type: str = ""
    reason_code: str = ""
    fee_cents: int = 0


@dataclass(frozen=True)
class ExportedRow:
    """A row of a written export, read back by its format (the tie-out's totals of what the biller
    was handed): its cents and fee, and our kind, payment id, Invoice Cloud payment id and method
    (empty where the format has no such column)."""

    cents: int
    fee_cents: int
    kind: str
    payment_id: str
    payment_guid: str
    method: str


def export_rows(entries: Iterable[LedgerEntry]) -> list[ExportRow]:
    """Each entry's cents per invoice, ordered by account, invoice, time (payments before reversals at
    the same moment) and credit; an entry's fee on the first of its rows in that order. An invoice an
    entry moved nothing on has no row, unless the entry's fee needs one."""
    rows: list[ExportRow] = []
    fees: dict[tuple[datetime, str], int] = {}
    for entry in entries:
        moved = {ref: cents for ref, cents in entry.invoices.items() if cents}
        if not moved and entry.fee_cents and entry.invoices:
            moved = {min(entry.invoices): 0}
        if entry.fee_cents and moved:
            fees[(entry.at, entry.credit_key)] = entry.fee_cents
        for ref, cents in moved.items():
            invoice = InvoiceRef.from_key(ref)
            rows.append(
                ExportRow(
                    account_number=invoice.account_number,
                    invoice_number=invoice.invoice_number,
                    at=entry.at,
                    reversal=entry.kind != "PAYMENT",
                    credit_key=entry.credit_key,
                    cents=cents,
                    payment_guid=entry.payment_guid,
                    method=entry.method or "",
                    kind=entry.kind,
                    payment_id=entry.payment_id,
                    paid_at=entry.payment_date,
                    occurred_at=entry.dated,
                    card_type=entry.card_type,
                    reason_code=entry.reason_code,
                )
            )
    ordered = sorted(rows)
    for position, row in enumerate(ordered):
        fee = fees.pop((row.at, row.credit_key), 0)
        if fee:
            ordered[position] = replace(row, fee_cents=fee)
    return ordered
