"""The daily tie-out (DESIGN §6f): finance's proof that the books balance, for one day of the biller's
zone, from three records of the same money — no I/O here.

- **Invoice Cloud's payment files**: every row whose date falls on the day (files are read by the
  day of their rows, not of their names: a file of a UTC day holds rows of two days of the biller's).
- **Our ledger, by Invoice Cloud's date**: every entry whose money Invoice Cloud dates on the day
  (``LedgerEntry.dated``: a payment's PaymentDate, a reversal's row date), whenever we recorded it —
  a postback recovered from the next day's file, a reversal read the day after, a review decided a
  week later all land on the day Invoice Cloud charged or took back the money.
- **The export of the day**, read back, against the ledger entries recorded on the day (what the
  export is made of).

The day ties out when nothing is left in ``differences``:

1. for each payment (our payment id and Invoice Cloud's payment id), what Invoice Cloud's rows of the
   day moved (payments and chargeback reversals in, voids, refunds, ACH returns and chargebacks out)
   equals what our entries of the day moved (credits, corrections, reversals) — unless the payment
   waits for a person (``NEEDS_REVIEW``: the difference is *under review*) or a person closed it
   (``CLOSED``, refunded at Invoice Cloud: its dismissal took back every credit, and Invoice Cloud's
   charge and refund are *closed*), which are listed in ``explained``; so that, summed over the day,
   Invoice Cloud = credited + reversed + under review + closed;
2. for each payment, Invoice Cloud's convenience fees of the day equal the fees our entries added,
   with the same two explanations;
3. for each payment and kind, the export of the day carried exactly the cents and fees of the ledger
   entries recorded on the day (and the export exists when there was anything to carry).

Entries recorded on another day than Invoice Cloud's are listed in ``timing`` (not differences).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from typing import Any

from avocette import clock, money
from avocette.domain.export import ExportedRow
from avocette.domain.ledger import LedgerEntry, day_of
from avocette.domain.payments import PaymentStatus
from avocette.domain.reconciliation import PaymentFileRow, RowKind

__all__ = [
    "Difference",
    "Explained",
    "TieOut",
    "Timing",
    "payments_to_ask",
    "signed_cents",
    "tie_out",
]

UNKNOWN_METHOD = "UNKNOWN"
# A list longer than this keeps its first entries and counts the rest (a day whose file never came
# lists every payment of the day).
MAX_LISTED = 1000
_REVERSAL_KINDS = tuple(kind.value for kind in RowKind if kind is not RowKind.PAYMENT)
# The statuses whose differences a person accounts for.
_EXPLAINED = {PaymentStatus.NEEDS_REVIEW: "under_review", PaymentStatus.CLOSED: "closed"}


def signed_cents(row: PaymentFileRow) -> int:
    """What a row of Invoice Cloud's file moved toward the biller: in for a payment and a chargeback
    reversal, out for every other reversal."""
    return row.cents if row.kind in (RowKind.PAYMENT, RowKind.CHARGEBACK_REVERSAL) else -row.cents


def _text(cents: int) -> str:
    return money.cents_to_text(cents)


@dataclass(frozen=True)
class Difference:
    """One thing that does not tie out, by identifiers only (never payer details)."""

    check: str  # invoice_cloud | fees | export
    reason: str
    payment_id: str
    payment_guid: str
    invoice_cloud: int  # what Invoice Cloud (or, for the export check, the export) says, in cents
    ours: int  # what our ledger says
    kind: str = ""  # the export check's kind
    where: str = ""  # a row Invoice Cloud's file has that cannot be read: the file and line

    def as_dict(self) -> dict[str, Any]:
        found = {
            "check": self.check,
            "reason": self.reason,
            "paymentId": self.payment_id,
            "paymentGuid": self.payment_guid,
            "kind": self.kind,
            "where": self.where,
            ("exported" if self.check == "export" else "invoiceCloud"): _text(self.invoice_cloud),
            "ours": _text(self.ours),
            "difference": _text(self.invoice_cloud - self.ours),
        }
        return {name: value for name, value in found.items() if value != ""}


@dataclass(frozen=True)
class Explained:
    """A payment whose difference a person accounts for: under review, or closed (refunded at IC)."""

    reason: str  # under_review | closed
    payment_id: str
    payment_guid: str
    cents: int  # Invoice Cloud's money of the day less ours
    fee_cents: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "paymentId": self.payment_id,
            "paymentGuid": self.payment_guid,
            "amount": _text(self.cents),
            "fees": _text(self.fee_cents),
        }


@dataclass(frozen=True)
class Timing:
    """Money Invoice Cloud dates on the day that we recorded on another (a postback recovered from
    a later file, a reversal read the next day, a review decided later): in that day's export."""

    payment_id: str
    payment_guid: str
    kind: str
    cents: int
    recorded_on: date

    def as_dict(self) -> dict[str, Any]:
        return {
            "paymentId": self.payment_id,
            "paymentGuid": self.payment_guid,
            "kind": self.kind,
            "amount": _text(self.cents),
            "recordedOn": self.recorded_on.isoformat(),
        }


@dataclass
class _Side:
    """Totals of one record of the day's money."""

    payments: int = 0  # cents in (payments, credits)
    count: int = 0
    corrections: int = 0
    reversals: Counter[str] = field(default_factory=Counter)
    fees: int = 0
    by_method: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, kind: str, cents: int, fee: int, method: str) -> None:
        if kind == "PAYMENT":
            self.payments += cents
            self.count += 1
            self.by_method[method]["payments"] += cents
        elif kind == "CORRECTION":
            self.corrections += cents
            self.by_method[method]["payments"] += cents
        else:
            self.reversals[kind] += cents
            self.by_method[method]["reversals"] += cents
        self.fees += fee
        self.by_method[method]["fees"] += fee

    @property
    def net(self) -> int:
        return self.payments + self.corrections + sum(self.reversals.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "payments": {"count": self.count, "amount": _text(self.payments)},
            "corrections": _text(self.corrections),
            "reversals": {kind: _text(self.reversals[kind]) for kind in _REVERSAL_KINDS},
            "fees": _text(self.fees),
            "net": _text(self.net),
            "byMethod": {
                method: {name: _text(totals[name]) for name in ("payments", "reversals", "fees")}
                for method, totals in sorted(self.by_method.items())
            },
        }


@dataclass(frozen=True)
class TieOut:
    """The tie-out of one day: each record's totals, the differences, what a person accounts for."""

    day: date
    time_zone: str
    computed_at: datetime
    grace_days: int
    final: bool  # the grace days have passed: a day still not tied out is alarmed
    files: tuple[str, ...]
    export_key: str | None
    invoice_cloud: _Side
    ledger: _Side
    recorded: _Side  # the ledger entries recorded on the day (what the export carries)
    exported: _Side | None  # None: no export of the day was found
    export_rows: int
    differences: tuple[Difference, ...]
    explained: tuple[Explained, ...]
    timing: tuple[Timing, ...]

    @property
    def ties_out(self) -> bool:
        return not self.differences

    def explained_cents(self, reason: str) -> int:
        return sum(item.cents for item in self.explained if item.reason == reason)

    def as_dict(self) -> dict[str, Any]:
        ledger = self.ledger.as_dict() | {
            "underReview": _text(self.explained_cents("under_review")),
            "closed": _text(self.explained_cents("closed")),
            "recordedOnOtherDays": _text(sum(item.cents for item in self.timing)),
        }
        return {
            "day": self.day.isoformat(),
            "timeZone": self.time_zone,
            "computedAt": clock.timestamp(self.computed_at),
            "tiesOut": self.ties_out,
            "final": self.final,
            "graceDays": self.grace_days,
            "invoiceCloud": {"files": list(self.files), **self.invoice_cloud.as_dict()},
            "ledger": ledger,
            "export": {
                "key": self.export_key,
                "found": self.exported is not None,
                "rows": self.export_rows,
                **(self.exported or _Side()).as_dict(),
                "ledgerRecordedOnTheDay": self.recorded.as_dict(),
            },
            **_listed("differences", self.differences),
            **_listed("explained", self.explained),
            **_listed("timing", self.timing),
        }


def _listed(name: str, items: Sequence[Difference | Explained | Timing]) -> dict[str, Any]:
    shown = [item.as_dict() for item in items[:MAX_LISTED]]
    omitted = max(0, len(items) - MAX_LISTED)
    return {name: shown, **({f"{name}Omitted": omitted} if omitted else {})}


Key = tuple[str, str]  # (our payment id, Invoice Cloud's payment id)


def _money_by_payment(
    day: date, zone: tzinfo, rows: Iterable[PaymentFileRow], dated: Iterable[LedgerEntry]
) -> tuple[_Side, _Side, dict[Key, list[int]], dict[Key, list[int]], list[Timing]]:
    """Each record's totals of the day, and its money and fees by payment."""
    ic, ours = _Side(), _Side()
    ic_by: dict[Key, list[int]] = defaultdict(lambda: [0, 0])  # [net cents, fees]
    ours_by: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if day_of(row.at, zone) != day:
            continue
        fee = row.fee_cents if row.kind is RowKind.PAYMENT else -row.fee_cents
        ic.add(row.kind.value, signed_cents(row), fee, row.payment_type_id or UNKNOWN_METHOD)
        totals = ic_by[(row.biller_reference, row.payment_guid)]
        totals[0] += signed_cents(row)
        totals[1] += fee
    timing = []
    for entry in dated:
        if day_of(entry.dated, zone) != day:
            continue
        ours.add(entry.kind, entry.cents, entry.fee_cents, entry.method or UNKNOWN_METHOD)
        totals = ours_by[(entry.payment_id, entry.payment_guid)]
        totals[0] += entry.cents
        totals[1] += entry.fee_cents
        recorded_on = day_of(entry.at, zone)
        if recorded_on != day and (entry.cents or entry.fee_cents):
            timing.append(Timing(entry.payment_id, entry.payment_guid, entry.kind, entry.cents, recorded_on))
    return ic, ours, ic_by, ours_by, timing


def payments_to_ask(
    day: date, zone: tzinfo, *, rows: Iterable[PaymentFileRow], dated: Iterable[LedgerEntry]
) -> set[str]:
    """The payments whose status the tie-out of ``day`` needs: those whose money or fees Invoice Cloud
    and our ledger do not agree on (a person may account for them). A day that ties out needs none."""
    _, _, ic_by, ours_by, _ = _money_by_payment(day, zone, rows, dated)
    return {key[0] for key in set(ic_by) | set(ours_by) if ic_by.get(key, [0, 0]) != ours_by.get(key, [0, 0])}


def tie_out(
    day: date,
    zone: tzinfo,
    *,
    rows: Iterable[PaymentFileRow],
    files: Sequence[str],
    unreadable: Sequence[str] = (),
    dated: Iterable[LedgerEntry],
    recorded: Iterable[LedgerEntry],
    exported: Sequence[ExportedRow] | None,
    export_key: str | None,
    export_fields: frozenset[str],
    statuses: Mapping[str, PaymentStatus | None],
    methods: Mapping[str, str],
    computed_at: datetime,
    grace_days: int,
    final: bool,
) -> TieOut:
    """Tie out ``day`` (of ``zone``). ``rows``: Invoice Cloud's rows, once each (those of other days
    are left out here); ``dated``: ledger entries, those Invoice Cloud dates on the day are kept;
    ``recorded``: the ledger entries recorded on the day; ``exported``: the export of the day read
    back (``None`` when there is none), by ``export_fields`` (the fields its format has);
    ``statuses``: the status of each payment :func:`payments_to_ask` names (``None``: no such
    payment); ``methods``: PaymentTypeID to
    method (IC_PAYMENT_TYPE_IDS); ``unreadable``: rows of the day's files that could not be read
    (file and line): money nobody can account for, each a difference."""
    named = [replace(row, payment_type_id=methods.get(row.payment_type_id) or UNKNOWN_METHOD) for row in rows]
    ic, ours, ic_by, ours_by, timing = _money_by_payment(day, zone, named, dated)
    differences, explained = _against_invoice_cloud(ic_by, ours_by, statuses)
    recorded_side, export_side, export_differences = _against_export(recorded, exported, export_fields)
    return TieOut(
        day=day,
        time_zone=str(zone),
        computed_at=computed_at,
        grace_days=grace_days,
        final=final,
        files=tuple(files),
        export_key=export_key,
        invoice_cloud=ic,
        ledger=ours,
        recorded=recorded_side,
        exported=export_side,
        export_rows=len(exported or ()),
        differences=(
            *(Difference("invoice_cloud", "unreadable_row", "", "", 0, 0, where=where) for where in unreadable),
            *differences,
            *export_differences,
        ),
        explained=tuple(explained),
        timing=tuple(sorted(timing, key=lambda t: (t.payment_id, t.payment_guid, t.kind, t.recorded_on, t.cents))),
    )


def _against_invoice_cloud(
    ic_by: Mapping[Key, list[int]], ours_by: Mapping[Key, list[int]], statuses: Mapping[str, PaymentStatus | None]
) -> tuple[list[Difference], list[Explained]]:
    differences: list[Difference] = []
    explained: list[Explained] = []
    for key in sorted(set(ic_by) | set(ours_by)):
        payment_id, guid = key
        ic_cents, ic_fees = ic_by.get(key, [0, 0])
        our_cents, our_fees = ours_by.get(key, [0, 0])
        if ic_cents == our_cents and ic_fees == our_fees:
            continue
        status = statuses.get(payment_id)
        if status in _EXPLAINED:
            explained.append(Explained(_EXPLAINED[status], payment_id, guid, ic_cents - our_cents, ic_fees - our_fees))
            continue
        if status is None and key in ic_by:
            reason = "unknown_payment"
        elif key not in ic_by:
            reason = "not_in_invoice_cloud"
        elif key not in ours_by:
            reason = "not_in_ledger"
        else:
            reason = "amounts_differ"
        if ic_cents != our_cents:
            differences.append(Difference("invoice_cloud", reason, payment_id, guid, ic_cents, our_cents))
        if ic_fees != our_fees:
            fee_reason = reason if reason != "amounts_differ" else "fees_differ"
            differences.append(Difference("fees", fee_reason, payment_id, guid, ic_fees, our_fees))
    return differences, explained


def _against_export(
    recorded: Iterable[LedgerEntry], exported: Sequence[ExportedRow] | None, fields: frozenset[str]
) -> tuple[_Side, _Side | None, list[Difference]]:
    """The entries recorded on the day against the export read back, by payment id and kind where the
    export's format has those columns (else over the whole day)."""
    # Without an export, whatever its format, each payment's money is named.
    by_payment, by_kind = "paymentId" in fields or exported is None, "kind" in fields or exported is None
    recorded_side = _Side()
    ours: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    guids: dict[str, str] = {}
    for entry in recorded:
        recorded_side.add(entry.kind, entry.cents, entry.fee_cents, entry.method or UNKNOWN_METHOD)
        totals = ours[(entry.payment_id if by_payment else "", entry.kind if by_kind else "")]
        totals[0] += entry.cents
        totals[1] += entry.fee_cents
        guids.setdefault(entry.payment_id, entry.payment_guid)
    if exported is None:
        missing = [
            Difference("export", "export_missing", payment_id, guids.get(payment_id, ""), 0, cents, kind)
            for (payment_id, kind), (cents, fees) in sorted(ours.items())
            if cents or fees
        ]
        return recorded_side, None, missing
    export_side = _Side()
    theirs: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in exported:
        export_side.add(row.kind or "PAYMENT", row.cents, row.fee_cents, row.method or UNKNOWN_METHOD)
        totals = theirs[(row.payment_id if by_payment else "", row.kind if by_kind else "")]
        totals[0] += row.cents
        totals[1] += row.fee_cents
        guids.setdefault(row.payment_id, row.payment_guid)
    differences = []
    for key in sorted(set(ours) | set(theirs)):
        payment_id, kind = key
        mine, written = ours.get(key, [0, 0]), theirs.get(key, [0, 0])
        if mine[0] != written[0]:
            reason = "not_in_export" if key not in theirs else "not_in_ledger" if key not in ours else "amounts_differ"
            differences.append(
                Difference("export", reason, payment_id, guids.get(payment_id, ""), written[0], mine[0], kind)
            )
        if mine[1] != written[1]:
            differences.append(
                Difference("export", "fees_differ", payment_id, guids.get(payment_id, ""), written[1], mine[1], kind)
            )
    return recorded_side, export_side, differences
