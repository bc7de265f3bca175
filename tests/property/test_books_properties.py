"""The export and the tie-out over generated days (DESIGN §6e, §6f).

Hypothesis makes a few days of a biller's books in a zone whose clocks change (New York, London,
Lord Howe's half hour, Chatham's 45 minutes, Kolkata, UTC), around the days they change: payments
near the biller's midnight, with or without a readable PaymentDate, their postbacks delivered at once
or lost and recovered from the next day's Invoice Cloud file, payments left under review or closed
by a person, and reversals of every kind (a chargeback and its reversal, a refund, a void, an ACH
return) days later, read from the files the morning after. From that story come Invoice Cloud's file
rows and our ledger entries, each as the code writes them (recorded when we learn of the money, dated
by Invoice Cloud), kept in UTC partitions as the store keeps them. Then, for every day of the biller:

- the export of each day is read from the UTC partitions the day overlaps (the store's own code), and
  every cent of the ledger — credits, reversals and fees — appears in exactly one row of exactly one
  day's export, the bytes read back to the same totals;
- the tie-out of every day balances, what a person holds listed apart;
- removing any one ledger entry that moved money makes the tie-out of its day name its payment.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

from avocette.biller.export_file import get_export_format
from avocette.domain.export import export_rows
from avocette.domain.ledger import LedgerEntry, day_of
from avocette.domain.payments import PaymentStatus
from avocette.domain.reconciliation import PaymentFileRow, RowKind
from avocette.domain.tieout import TieOut, tie_out
from avocette.store import ledger as ledger_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Zones and, for each, days its clocks change in 2026 (and an ordinary one).
ZONES = {
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1), date(2026, 11, 25)],
    "Europe/London": [date(2026, 3, 29), date(2026, 10, 25)],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],
    "Pacific/Chatham": [date(2026, 4, 5), date(2026, 9, 27)],
    "Asia/Kolkata": [date(2026, 11, 25)],
    "UTC": [date(2026, 12, 31)],
}
KINDS_TAKING = [RowKind.VOID, RowKind.REFUND, RowKind.ACH_RETURN, RowKind.CHARGEBACK]
EXPORT = get_export_format("biller-export-v1")


@dataclass
class Books:
    zone: ZoneInfo
    days: list[date]
    rows: list[PaymentFileRow] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    statuses: dict[str, PaymentStatus] = field(default_factory=dict)

    def partitions(self, entries: list[LedgerEntry]) -> dict[str, list[LedgerEntry]]:
        found: dict[str, list[LedgerEntry]] = defaultdict(list)
        for entry in sorted(entries, key=lambda e: e.sort_key):
            found[entry.day].append(entry)
        return found


def _local(day: date, zone: ZoneInfo, minutes: int) -> datetime:
    """``minutes`` after (or before) the start of ``day`` in ``zone``, in UTC, to the second."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    return midnight + timedelta(minutes=minutes)


@st.composite
def books(draw: st.DrawFn) -> Books:
    zone_name = draw(st.sampled_from(sorted(ZONES)))
    zone = ZoneInfo(zone_name)
    first = draw(st.sampled_from(ZONES[zone_name])) - timedelta(days=1)
    story = Books(zone=zone, days=[first + timedelta(days=n) for n in range(4)])
    for n in range(draw(st.integers(1, 6))):
        payment_id, guid = f"p{n}", f"G-{n}"
        # Near a midnight of the biller (a minute to 90 minutes either side), on one of the first days.
        paid = _local(first + timedelta(days=draw(st.integers(1, 2))), zone, draw(st.integers(-90, 90))) + timedelta(
            seconds=draw(st.integers(0, 59))
        )
        method = draw(st.sampled_from(["CARD", "ACH"]))
        invoices = {f"A{n}/I-{k}": draw(st.integers(1, 50_000)) for k in range(draw(st.integers(1, 3)))}
        fee = draw(st.sampled_from([0, 100, 250]))
        fate = draw(st.sampled_from(["delivered", "delivered", "lost", "review", "closed"]))
        readable = draw(st.booleans())
        for position, (ref, cents) in enumerate(sorted(invoices.items())):
            account, invoice = ref.split("/")
            story.rows.append(
                PaymentFileRow(
                    line=len(story.rows) + 2, kind=RowKind.PAYMENT, payment_guid=guid, biller_reference=payment_id,
                    account_number=account, invoice_number=invoice, cents=cents,
                    fee_cents=fee if position == 0 else 0, at=paid, payment_type_id="1" if method == "CARD" else "2",
                )
            )  # fmt: skip
        story.statuses[payment_id] = {"review": PaymentStatus.NEEDS_REVIEW, "closed": PaymentStatus.CLOSED}.get(
            fate, PaymentStatus.APPROVED
        )
        if fate in ("review", "closed"):
            continue  # nothing credited (a closed payment's credits were taken back: nothing left)
        # Delivered seconds later (maybe past midnight), or recovered from the next day's file.
        recorded = paid + (
            timedelta(seconds=draw(st.integers(1, 300)))
            if fate == "delivered"
            else timedelta(days=1, hours=draw(st.integers(0, 20)))
        )
        story.entries.append(
            LedgerEntry(
                at=recorded, credit_key=f"{payment_id}#{guid}", payment_id=payment_id, kind="PAYMENT",
                payment_guid=guid, method=method, source="postback" if fate == "delivered" else "file",
                invoices=invoices, paid_at=paid if readable or fate == "lost" else None,
                # The file's date fills in what the postback could not say, once the file confirms it.
                occurred_at=paid, fee_cents=fee, card_type="Visa" if method == "CARD" else "",
            )
        )  # fmt: skip
        left = dict(invoices)
        for r in range(draw(st.integers(0, 2))):
            ref = draw(st.sampled_from(sorted(left)))
            if not left[ref]:
                continue
            kind = draw(st.sampled_from(KINDS_TAKING))
            cents = draw(st.integers(1, left[ref]))
            when = paid + timedelta(hours=draw(st.integers(1, 60)), minutes=draw(st.integers(0, 59)))
            kinds = [kind] + (
                [RowKind.CHARGEBACK_REVERSAL] if kind is RowKind.CHARGEBACK and draw(st.booleans()) else []
            )
            for step, each in enumerate(kinds):
                at = when + timedelta(hours=step * draw(st.integers(1, 30)))
                account, invoice = ref.split("/")
                story.rows.append(
                    PaymentFileRow(
                        line=len(story.rows) + 2, kind=each, payment_guid=guid, biller_reference=payment_id,
                        account_number=account, invoice_number=invoice, cents=cents, fee_cents=0, at=at,
                        payment_type_id="1" if method == "CARD" else "2", reason_code="R01",
                    )
                )  # fmt: skip
                sign = 1 if each is RowKind.CHARGEBACK_REVERSAL else -1
                story.entries.append(
                    LedgerEntry(
                        at=at + timedelta(hours=draw(st.integers(1, 30))), credit_key=f"{payment_id}#R{r}{step}",
                        payment_id=payment_id, kind=each.value, payment_guid=guid, method=method, source="reversal",
                        invoices={ref: sign * cents}, paid_at=paid, occurred_at=at, reason_code="R01",
                    )
                )  # fmt: skip
            left[ref] -= cents if kinds[-1] is not RowKind.CHARGEBACK_REVERSAL else 0
    story.days = sorted(
        {day_of(moment, zone) for moment in [*(r.at for r in story.rows), *(e.at for e in story.entries)]}
    )
    return story


@mock.patch.object(ledger_store, "list_day")
def _exports(books: Books, entries: list[LedgerEntry], list_day: mock.MagicMock) -> dict[date, list[LedgerEntry]]:
    """Each day's entries as the export reads them: the store's own choice of UTC partitions and hours."""
    partitions = books.partitions(entries)
    list_day.side_effect = lambda utc_day: iter(partitions.get(utc_day, []))
    first, last = books.days[0] - timedelta(days=1), books.days[-1] + timedelta(days=1)
    return {
        first + timedelta(days=n): ledger_store.list_local_day(first + timedelta(days=n), books.zone)
        for n in range((last - first).days + 1)
    }


def _tie(books: Books, day: date, entries: list[LedgerEntry], recorded: list[LedgerEntry]) -> TieOut:
    data = EXPORT.render(export_rows(recorded), books.zone)
    return tie_out(
        day, books.zone, rows=books.rows, files=["invoicecloud/f.csv"], dated=entries, recorded=recorded,
        exported=EXPORT.read(data), export_key=f"exports/{day}.csv",
        export_fields=frozenset(f for _, f in EXPORT.columns), statuses=dict(books.statuses),
        methods={"1": "CARD", "2": "ACH"}, computed_at=datetime(2027, 1, 1, tzinfo=UTC), grace_days=2, final=True,
    )  # fmt: skip


def _days(books: Books) -> Iterator[date]:
    first, last = books.days[0] - timedelta(days=1), books.days[-1] + timedelta(days=1)
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(books())
def test_every_cent_of_the_ledger_is_in_exactly_one_row_of_one_days_export(books: Books) -> None:
    by_day = _exports(books, books.entries)
    carried: Counter[tuple[str, str]] = Counter()
    fees: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for day, entries in by_day.items():
        for entry in entries:
            seen[entry.sort_key] += 1
            assert day_of(entry.at, books.zone) == day
        rows = export_rows(entries)
        for row in rows:
            carried[(row.credit_key, f"{row.account_number}/{row.invoice_number}")] += row.cents
            fees[row.credit_key] += row.fee_cents
        data = EXPORT.render(rows, books.zone)
        assert data == EXPORT.render(export_rows(list(reversed(entries))), books.zone)  # the same bytes
        read = EXPORT.read(data)
        assert sum(r.cents for r in read) == sum(e.cents for e in entries)
        assert sum(r.fee_cents for r in read) == sum(e.fee_cents for e in entries)
    assert set(seen.values()) <= {1} and len(seen) == len(books.entries)
    assert carried == Counter(
        {(e.credit_key, ref): cents for e in books.entries for ref, cents in e.invoices.items() if cents}
    )
    assert fees == Counter({e.credit_key: e.fee_cents for e in books.entries if e.fee_cents})


@SETTINGS
@given(books())
def test_every_day_ties_out(books: Books) -> None:
    by_day = _exports(books, books.entries)
    held = Counter[str]()
    for day in _days(books):
        result = _tie(books, day, books.entries, by_day[day])
        assert result.ties_out, (day, [d.as_dict() for d in result.differences])
        for item in result.explained:
            assert books.statuses[item.payment_id] in (PaymentStatus.NEEDS_REVIEW, PaymentStatus.CLOSED)
            held[item.payment_id] += item.cents
    # What a person holds is exactly what Invoice Cloud moved on those payments.
    ic_held = Counter[str]()
    for row in books.rows:
        if books.statuses[row.biller_reference] is not PaymentStatus.APPROVED:
            ic_held[row.biller_reference] += (
                row.cents if row.kind in (RowKind.PAYMENT, RowKind.CHARGEBACK_REVERSAL) else -row.cents
            )
    assert +held == +ic_held


@SETTINGS
@given(books(), st.integers(min_value=0))
def test_a_ledger_entry_removed_by_hand_is_named_by_the_tie_out_of_its_day(books: Books, pick: int) -> None:
    moving = [entry for entry in books.entries if entry.cents or entry.fee_cents]
    if not moving:
        return
    gone = moving[pick % len(moving)]
    left = [entry for entry in books.entries if entry is not gone]
    by_day = _exports(books, left)
    # Against Invoice Cloud, on the day Invoice Cloud dates its money.
    result = _tie(books, day_of(gone.dated, books.zone), left, by_day[day_of(gone.dated, books.zone)])
    assert gone.payment_id in {d.payment_id for d in result.differences if d.check != "export"}
    # Against the export written before it went, on the day it was recorded.
    recorded_day = day_of(gone.at, books.zone)
    before = _exports(books, books.entries)[recorded_day]
    stale = tie_out(
        recorded_day, books.zone, rows=books.rows, files=[], dated=left, recorded=by_day[recorded_day],
        exported=EXPORT.read(EXPORT.render(export_rows(before), books.zone)), export_key="k",
        export_fields=frozenset(f for _, f in EXPORT.columns), statuses=dict(books.statuses), methods={},
        computed_at=datetime(2027, 1, 1, tzinfo=UTC), grace_days=2, final=True,
    )  # fmt: skip
    assert ("export", gone.payment_id) in {(d.check, d.payment_id) for d in stale.differences}
