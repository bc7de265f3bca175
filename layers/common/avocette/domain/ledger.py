"""The ledger: every credit and reversal, by the day it was recorded (DESIGN §6d, §6e, §6f).

Each money event — an applied postback (received or recovered from Invoice Cloud's payment file),
a review decision, a reversal — writes one ledger entry in the same transaction as its credits. The
biller's daily export reads the entries recorded on a day of the biller's zone; the reconciliation
marks the entries Invoice Cloud's payment file confirmed, and reports the applied postbacks no file
listed within ``RECONCILE_MISSING_DAYS`` (a forged or mis-sent postback: money that never moved);
the daily tie-out sets them against Invoice Cloud's files by the day Invoice Cloud dates their money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from avocette import clock
from avocette.domain.billing import CreditKind

__all__ = ["LedgerEntry", "LedgerSource", "day_bounds", "day_of", "utc_days_of"]

LedgerSource = str  # "postback" | "file" | "review" | "reversal"


@dataclass(frozen=True)
class LedgerEntry:
    """One money event. ``credit_key`` is the key of its credit on each invoice it touched;
    ``invoices`` holds its cents per ``ACCOUNT/INVOICE`` (negative for a reversal).

    ``paid_at`` is the payer's payment moment as Invoice Cloud dates it (the postback's
    PaymentDate, the payment file's date) of the payment this money belongs to — a reversal's too —
    or ``None`` when Invoice Cloud's date was absent or unreadable. ``occurred_at`` is when Invoice
    Cloud says this money moved: the payment's date for a payment, the file row's date for a
    reversal; the tie-out sets the entry on that day (DESIGN §6f). ``fee_cents`` is the convenience
    fee this event added to its payment; ``reason_code`` a reversal's (ACH R-code, chargeback
    reason)."""

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
    paid_at: datetime | None = None
    occurred_at: datetime | None = None
    fee_cents: int = 0
    card_type: str = ""
    reason_code: str = ""

    @property
    def day(self) -> str:
        """The UTC day it was recorded: its partition (``LEDGER#{day}``)."""
        return clock.timestamp(self.at)[:10]

    @property
    def sort_key(self) -> str:
        return f"{clock.timestamp(self.at)}#{self.credit_key}"

    @property
    def cents(self) -> int:
        return sum(self.invoices.values())

    @property
    def dated(self) -> datetime:
        """When Invoice Cloud says this money moved, or, not knowing, when we recorded it."""
        return self.occurred_at or self.paid_at or self.at

    @property
    def payment_date(self) -> datetime:
        """The payer's payment moment (what late fees are judged by), or, not knowing, ``dated``."""
        return self.paid_at or self.dated


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The moments (UTC) a day of ``zone`` starts and ends (the end excluded): 23 or 25 hours apart
    on the days the clocks change. In UTC, because Python compares two times of one zone by their
    wall clocks, which the hour repeated in autumn makes ambiguous."""
    following = day + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    end = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
    return start, end


def utc_days_of(day: date, zone: tzinfo) -> list[str]:
    """The UTC days (ledger partitions) a day of ``zone`` overlaps, in order: one or two (three for
    a 25-hour day in a zone half an hour from UTC)."""
    start, end = day_bounds(day, zone)
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def day_of(moment: datetime, zone: tzinfo) -> date:
    """The day of ``zone`` a moment falls on."""
    return moment.astimezone(zone).date()
