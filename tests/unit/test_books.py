"""The books of a day, pure (DESIGN §5, §6e, §6f): Invoice Cloud's PaymentDate read, the days of the
biller's zone (23 and 25 hours when the clocks change), the export's rows and bytes read back, the
"payments posted through" mark of a billing file, and the tie-out's rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from avocette.biller.billing_file import OPTIONAL_COLUMNS, ParsedRow, check_header, parse_row
from avocette.biller.export_file import ExportFormat, ExportFormatError, get_export_format
from avocette.domain.billing import Credit, Invoice, PostedThrough, reflects
from avocette.domain.export import ExportedRow, export_rows
from avocette.domain.ledger import LedgerEntry, day_bounds, utc_days_of
from avocette.domain.payments import PaymentStatus
from avocette.domain.reconciliation import PaymentFileRow, RowKind
from avocette.domain.tieout import TieOut, tie_out
from avocette.formats import load_format
from avocette.invoicecloud.postback import DEFAULT_PAYMENT_DATE_FORMATS, parse_payment_date, parse_postback

from tests.unit.test_billing_file import AS_OF, cells

EASTERN = ZoneInfo("America/New_York")
DAY = date(2026, 11, 25)


# ---- Invoice Cloud's PaymentDate -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        # What the simulator sends (Invoice Cloud's receipts' form), Eastern: 7:21 PM on the due date.
        ("11/25/2026 07:21:00 PM", datetime(2026, 11, 26, 0, 21, tzinfo=UTC)),
        ("11/25/2026 19:21:00", datetime(2026, 11, 26, 0, 21, tzinfo=UTC)),
        ("11/25/2026 7:21 PM", datetime(2026, 11, 26, 0, 21, tzinfo=UTC)),
        # A date alone: noon in Invoice Cloud's zone, so its day stays its day in the biller's.
        ("11/25/2026", datetime(2026, 11, 25, 17, 0, tzinfo=UTC)),
        ("2026-11-25", datetime(2026, 11, 25, 17, 0, tzinfo=UTC)),
        ("2026-11-26T00:21:00Z", datetime(2026, 11, 26, 0, 21, tzinfo=UTC)),
        ("2026-11-25T19:21:00-05:00", datetime(2026, 11, 26, 0, 21, tzinfo=UTC)),
        # Summer: Eastern daylight time.
        ("07/04/2026 11:59:59 PM", datetime(2026, 7, 5, 3, 59, 59, tzinfo=UTC)),
    ],
)
def test_payment_dates_read_in_invoice_clouds_zone(text: str, moment: datetime) -> None:
    assert parse_payment_date(text, DEFAULT_PAYMENT_DATE_FORMATS, EASTERN) == moment


@pytest.mark.parametrize("text", ["", "   ", "yesterday", "13/45/2026", "11/25/26", "0001-01-01", "9" * 80])
def test_a_payment_date_that_cannot_be_read_is_none(text: str) -> None:
    assert parse_payment_date(text, DEFAULT_PAYMENT_DATE_FORMATS, EASTERN) is None


def test_the_formats_and_the_zone_are_settings() -> None:
    assert parse_payment_date("25.11.2026 19:21", ("%d.%m.%Y %H:%M",), ZoneInfo("America/Chicago")) == datetime(
        2026, 11, 26, 1, 21, tzinfo=UTC
    )


def test_a_postback_keeps_its_payment_date_as_sent_and_as_read_and_a_bad_one_is_no_problem() -> None:
    fields = {"PaymentGUID": "G", "Approved": "True", "PaymentAmount": "10", "PaymentDate": "11/25/2026 07:21:00 PM"}
    read = parse_postback(fields, amount_includes_fee=False, payment_type_ids={})
    assert (read.payment_date, read.paid_at) == ("11/25/2026 07:21:00 PM", datetime(2026, 11, 26, 0, 21, tzinfo=UTC))
    unreadable = parse_postback({**fields, "PaymentDate": "soon"}, amount_includes_fee=False, payment_type_ids={})
    assert (unreadable.problem, unreadable.paid_at) == (None, None)
    assert unreadable.values.digest == read.values.digest  # the same postback, whatever its date says


# ---- the biller's days ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "hours", "partitions"),
    [
        ("America/New_York", date(2026, 11, 25), 24, ["2026-11-25", "2026-11-26"]),
        ("America/New_York", date(2026, 3, 8), 23, ["2026-03-08", "2026-03-09"]),  # spring forward
        ("America/New_York", date(2026, 11, 1), 25, ["2026-11-01", "2026-11-02"]),  # fall back
        ("Europe/Paris", date(2026, 10, 25), 25, ["2026-10-24", "2026-10-25"]),
        ("UTC", date(2026, 11, 25), 24, ["2026-11-25"]),
        ("Asia/Kolkata", date(2026, 11, 25), 24, ["2026-11-24", "2026-11-25"]),
        ("Australia/Lord_Howe", date(2026, 10, 4), 23.5, ["2026-10-03", "2026-10-04"]),  # a half-hour change
        ("Pacific/Chatham", date(2026, 4, 5), 25, ["2026-04-04", "2026-04-05"]),
    ],
)
def test_a_day_of_the_biller_is_read_from_the_utc_partitions_it_overlaps(
    zone: str, day: date, hours: float, partitions: list[str]
) -> None:
    start, end = day_bounds(day, ZoneInfo(zone))
    assert (end - start) / timedelta(hours=1) == hours
    assert (
        start.astimezone(ZoneInfo(zone)).date() == day
        and (end - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).date() == day
    )
    assert utc_days_of(day, ZoneInfo(zone)) == partitions


# ---- the export's rows -----------------------------------------------------------------------------

AT = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)  # 7:30 PM Eastern on the 25th


def entry(**overrides: object) -> LedgerEntry:
    values: dict[str, object] = {
        "at": AT,
        "credit_key": "p1#k",
        "payment_id": "p1",
        "kind": "PAYMENT",
        "payment_guid": "G-1",
        "method": "CARD",
        "source": "postback",
        "invoices": {"A/I-1": 3000, "A/I-2": 2000},
        "paid_at": AT - timedelta(minutes=9),
        "fee_cents": 200,
        "card_type": "Visa",
    }
    values.update(overrides)
    return LedgerEntry(**values)  # type: ignore[arg-type]


def test_the_fee_goes_on_the_first_row_of_its_entry_alone() -> None:
    rows = export_rows([entry(invoices={"B/I-9": 500, "A/I-2": 2000})])
    assert [(r.account_number, r.invoice_number, r.cents, r.fee_cents) for r in rows] == [
        ("A", "I-2", 2000, 200),
        ("B", "I-9", 500, 0),
    ]


def test_a_fee_with_no_credit_still_has_its_row() -> None:
    rows = export_rows([entry(invoices={"A/I-1": 0}, fee_cents=150)])
    assert [(r.invoice_number, r.cents, r.fee_cents) for r in rows] == [("I-1", 0, 150)]
    assert export_rows([entry(invoices={"A/I-1": 0}, fee_cents=0)]) == []


def test_identifiers_with_slashes_are_the_biller_s_own_in_the_file() -> None:
    (row,) = export_rows([entry(invoices={"A%2F1/I%252": 500})])
    assert (row.account_number, row.invoice_number) == ("A/1", "I%2")


def test_a_row_carries_the_payers_date_in_the_billers_zone_and_a_reversal_its_own_day_too() -> None:
    late = entry(paid_at=datetime(2026, 11, 26, 0, 21, tzinfo=UTC))  # 7:21 PM Eastern on the due date
    returned = entry(
        at=datetime(2026, 11, 30, 14, 0, tzinfo=UTC),
        credit_key="p1#R",
        kind="ACH_RETURN",
        method="ACH",
        source="reversal",
        invoices={"A/I-1": -3000},
        occurred_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        fee_cents=0,
        card_type="",
        reason_code="R01",
    )
    data = get_export_format("biller-export-v1").render(export_rows([late, returned]), EASTERN).decode()
    lines = data.split("\r\n")
    assert lines[1] == "A,I-1,30.00,2026-11-25,PAYMENT,CARD,Visa,2.00,,2026-11-25,G-1,p1,2026-11-26T00:30:00Z"
    assert lines[2] == "A,I-1,-30.00,2026-11-25,ACH_RETURN,ACH,,0.00,R01,2026-11-30,G-1,p1,2026-11-30T14:00:00Z"
    # Without Invoice Cloud's date, the day we recorded it.
    (unknown,) = export_rows([entry(paid_at=None, invoices={"A/I-1": 100})])
    assert unknown.paid_at == AT


def test_an_export_reads_back_as_it_was_written_quoted_cells_included() -> None:
    export_format = get_export_format("biller-export-v1")
    rows = export_rows(
        [
            entry(payment_id="=p1", payment_guid="@G", card_type="+Visa"),
            entry(credit_key="p1#R", kind="CHARGEBACK", invoices={"A/I-1": -700}, fee_cents=0, reason_code="-4837"),
        ]
    )
    data = export_format.render(rows, EASTERN)
    assert "'+Visa" in data.decode() and "'-4837" in data.decode()
    assert export_format.read(data) == [
        ExportedRow(cents=3000, fee_cents=200, kind="PAYMENT", payment_id="=p1", payment_guid="@G", method="CARD"),
        ExportedRow(cents=-700, fee_cents=0, kind="CHARGEBACK", payment_id="p1", payment_guid="G-1", method="CARD"),
        ExportedRow(cents=2000, fee_cents=0, kind="PAYMENT", payment_id="=p1", payment_guid="@G", method="CARD"),
    ]
    with pytest.raises(ValueError, match="header"):
        export_format.read(b"Something,Else\r\n")


def test_an_export_format_needs_an_amount_column_and_one_column_per_field() -> None:
    spec = load_format("biller-export-v1")
    with pytest.raises(ValueError, match="amount"):
        ExportFormat.model_validate({**spec, "columns": [["Account", "accountNumber"]]})
    with pytest.raises(ValueError, match="one column"):
        ExportFormat.model_validate({**spec, "columns": [["A", "amount"], ["B", "amount"]]})
    assert issubclass(ExportFormatError, ValueError)


# ---- "payments posted through" -----------------------------------------------------------------------

EXPORTED = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)  # Friday night's export (of Thursday, the 26th)


def credit() -> Credit:
    return Credit(
        payment_id="p1", cents=5000, approved_at=EXPORTED - timedelta(hours=20), exported_at=EXPORTED,
        exported_day=date(2026, 11, 26),
    )  # fmt: skip


def test_without_a_mark_the_settlement_lag_decides() -> None:
    monday = EXPORTED + timedelta(days=3)
    assert reflects(credit(), monday, 24)
    assert not reflects(credit(), EXPORTED + timedelta(hours=23), 24)


def test_a_mark_before_the_credits_export_keeps_it_counting_whatever_the_lag() -> None:
    """A weekend, or a failed import: Monday's billing file says the billing system posted only the
    exports up to Wednesday's. The lag alone would drop the credit and show a paid bill as due."""
    monday = EXPORTED + timedelta(days=3)
    assert not reflects(credit(), monday, 24, PostedThrough(day=date(2026, 11, 25)))
    assert not reflects(credit(), monday, 24, PostedThrough(at=EXPORTED - timedelta(minutes=1)))


def test_a_mark_covering_the_credits_export_reflects_it_even_within_the_lag() -> None:
    soon = EXPORTED + timedelta(hours=2)
    assert reflects(credit(), soon, 24, PostedThrough(day=date(2026, 11, 26)))
    assert reflects(credit(), soon, 24, PostedThrough(at=EXPORTED))
    never_exported = dataclasses.replace(credit(), exported_at=None, exported_day=None)
    assert not reflects(never_exported, soon, 0, PostedThrough(day=date(2030, 1, 1)))


def test_a_credit_exported_before_its_export_day_was_kept_counts_until_the_day_after_its_export() -> None:
    old = dataclasses.replace(credit(), exported_day=None)
    assert not reflects(old, EXPORTED + timedelta(days=2), 24, PostedThrough(day=date(2026, 11, 26)))
    assert reflects(old, EXPORTED + timedelta(days=2), 24, PostedThrough(day=date(2026, 11, 27)))


def test_an_invoice_reflects_by_its_rows_mark() -> None:
    invoice = Invoice(account_number="A", invoice_number="I", billed_cents=5000, billed_as_of=AS_OF,
                      credits={"p1#k": credit()})  # fmt: skip
    monday = EXPORTED + timedelta(days=3)
    assert invoice.credits_reflected_by(monday, 24) == {"p1#k": credit()}
    assert invoice.credits_reflected_by(monday, 24, PostedThrough(day=date(2026, 11, 25))) == {}


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        ("2026-11-25", PostedThrough(day=date(2026, 11, 25))),
        ("2026-11-25T06:00:00Z", PostedThrough(at=datetime(2026, 11, 25, 6, tzinfo=UTC))),
        ("2026-11-25T01:00:00-05:00", PostedThrough(at=datetime(2026, 11, 25, 6, tzinfo=UTC))),
        ("", None),
    ],
)
def test_the_billing_file_may_carry_the_mark(text: str, mark: PostedThrough | None) -> None:
    check_header([*cells(), *OPTIONAL_COLUMNS])
    read = parse_row(2, cells(PaymentsPostedThrough=text))
    assert isinstance(read, ParsedRow) and read.posted_through == mark


@pytest.mark.parametrize("text", ["11/25/2026", "2026-11-25T06:00:00", "yesterday", "2026-02-30"])
def test_a_mark_that_is_no_date_nor_a_time_with_its_offset_is_a_bad_row(text: str) -> None:
    (problem,) = parse_row(2, cells(PaymentsPostedThrough=text))  # type: ignore[misc]
    assert (problem.column, problem.reason) == (
        "PaymentsPostedThrough",
        "not a date as YYYY-MM-DD or an RFC 3339 time with its offset",
    )


def test_a_mark_is_never_later_than_its_file() -> None:
    read = parse_row(2, cells(PaymentsPostedThrough="2030-01-01T00:00:00Z"))
    assert isinstance(read, ParsedRow)
    assert read.posted_through_as_of(AS_OF) == PostedThrough(at=AS_OF)
    dated = parse_row(2, cells(PaymentsPostedThrough="2030-01-01"))
    assert isinstance(dated, ParsedRow) and dated.posted_through_as_of(AS_OF) == PostedThrough(day=AS_OF.date())


# ---- the tie-out -----------------------------------------------------------------------------------


def row(kind: RowKind = RowKind.PAYMENT, **overrides: object) -> PaymentFileRow:
    values: dict[str, object] = {
        "line": 2,
        "kind": kind,
        "payment_guid": "G-1",
        "biller_reference": "p1",
        "account_number": "A",
        "invoice_number": "I-1",
        "cents": 3000,
        "fee_cents": 200 if kind is RowKind.PAYMENT else 0,
        "at": datetime(2026, 11, 25, 15, tzinfo=UTC),
        "payment_type_id": "1",
    }
    values.update(overrides)
    return PaymentFileRow(**values)  # type: ignore[arg-type]


def paid(**overrides: object) -> LedgerEntry:
    values: dict[str, object] = {
        "at": datetime(2026, 11, 25, 15, 0, 5, tzinfo=UTC),
        "invoices": {"A/I-1": 3000},
        "paid_at": datetime(2026, 11, 25, 15, tzinfo=UTC),
        "occurred_at": datetime(2026, 11, 25, 15, tzinfo=UTC),
    }
    values.update(overrides)
    return entry(**values)


def exported(*entries: LedgerEntry) -> list[ExportedRow]:
    return get_export_format("biller-export-v1").read(
        get_export_format("biller-export-v1").render(export_rows(entries), EASTERN)
    )


def tie(
    rows: list[PaymentFileRow],
    dated: list[LedgerEntry],
    *,
    recorded: list[LedgerEntry] | None = None,
    statuses: dict[str, PaymentStatus | None] | None = None,
    written: list[ExportedRow] | None = None,
    unreadable: tuple[str, ...] = (),
) -> TieOut:
    recorded = dated if recorded is None else recorded
    return tie_out(
        DAY,
        EASTERN,
        rows=rows,
        files=["invoicecloud/2026-11-25.csv"],
        unreadable=unreadable,
        dated=dated,
        recorded=recorded,
        exported=exported(*recorded) if written is None else written,
        export_key="exports/2026-11-25.csv",
        export_fields=frozenset({"amount", "fee", "kind", "paymentId", "paymentGuid", "method"}),
        statuses=statuses or {"p1": PaymentStatus.APPROVED},
        methods={"1": "CARD"},
        computed_at=datetime(2026, 11, 26, 8, 30, tzinfo=UTC),
        grace_days=2,
        final=False,
    )


def test_a_day_whose_three_records_agree_ties_out() -> None:
    result = tie([row()], [paid()])
    assert result.ties_out
    shown = result.as_dict()
    assert shown["invoiceCloud"]["payments"] == shown["ledger"]["payments"] == {"count": 1, "amount": "30.00"}
    assert shown["invoiceCloud"]["fees"] == shown["ledger"]["fees"] == shown["export"]["fees"] == "2.00"
    assert (
        shown["invoiceCloud"]["byMethod"]
        == shown["ledger"]["byMethod"]
        == {"CARD": {"payments": "30.00", "reversals": "0.00", "fees": "2.00"}}
    )


def test_rows_and_entries_of_other_days_of_the_biller_are_left_out() -> None:
    """7:21 PM Eastern on the 25th is the 26th in UTC: it belongs to the 25th; 00:30 on the 26th
    Eastern does not."""
    evening = datetime(2026, 11, 26, 0, 21, tzinfo=UTC)
    after_midnight = datetime(2026, 11, 26, 5, 30, tzinfo=UTC)
    rows = [row(at=evening), row(at=after_midnight, payment_guid="G-2", biller_reference="p2")]
    entries = [paid(paid_at=evening, occurred_at=evening), paid(payment_id="p2", payment_guid="G-2",
               paid_at=after_midnight, occurred_at=after_midnight)]  # fmt: skip
    result = tie(rows, entries, recorded=entries[:1], statuses={"p1": PaymentStatus.APPROVED})
    assert result.ties_out, result.differences
    assert result.as_dict()["invoiceCloud"]["payments"]["amount"] == "30.00"


def test_money_recorded_another_day_is_timing_not_a_difference() -> None:
    recovered = paid(at=datetime(2026, 11, 26, 14, tzinfo=UTC), source="file")
    result = tie([row()], [recovered], recorded=[])
    assert result.ties_out
    assert result.as_dict()["timing"] == [
        {"paymentId": "p1", "paymentGuid": "G-1", "kind": "PAYMENT", "amount": "30.00", "recordedOn": "2026-11-26"}
    ]


def test_reversals_of_every_kind_balance_by_their_own_day() -> None:
    kinds = [RowKind.VOID, RowKind.REFUND, RowKind.ACH_RETURN, RowKind.CHARGEBACK, RowKind.CHARGEBACK_REVERSAL]
    rows = [row(kind, cents=100 * (n + 1), line=n) for n, kind in enumerate(kinds)]
    entries = [
        paid(kind=kind.value, credit_key=f"p1#R{n}", fee_cents=0, source="reversal", reason_code="R01",
             invoices={"A/I-1": 100 * (n + 1) * (1 if kind is RowKind.CHARGEBACK_REVERSAL else -1)})
        for n, kind in enumerate(kinds)
    ]  # fmt: skip
    result = tie(rows, entries)
    assert result.ties_out, result.differences
    assert result.as_dict()["ledger"]["reversals"] == {
        "VOID": "-1.00", "REFUND": "-2.00", "ACH_RETURN": "-3.00", "CHARGEBACK": "-4.00", "CHARGEBACK_REVERSAL": "5.00",
    }  # fmt: skip


def test_what_a_person_accounts_for_is_listed_not_a_difference() -> None:
    rows = [row(), row(biller_reference="p2", payment_guid="G-2"), row(RowKind.REFUND, biller_reference="p2",
            payment_guid="G-2", at=datetime(2026, 11, 25, 20, tzinfo=UTC))]  # fmt: skip
    statuses: dict[str, PaymentStatus | None] = {"p1": PaymentStatus.NEEDS_REVIEW, "p2": PaymentStatus.CLOSED}
    result = tie(rows, [], statuses=statuses)
    assert result.ties_out
    shown = result.as_dict()
    assert (shown["ledger"]["underReview"], shown["ledger"]["closed"]) == ("30.00", "0.00")
    assert [item["reason"] for item in shown["explained"]] == ["under_review", "closed"]


def test_every_difference_names_the_payment() -> None:
    rows = [row(), row(biller_reference="p9", payment_guid="G-9"), row(biller_reference="p3", payment_guid="G-3")]
    entries = [
        paid(invoices={"A/I-1": 2900}),
        paid(payment_id="p4", payment_guid="G-4", credit_key="p4#k"),
        paid(payment_id="p3", payment_guid="G-3", credit_key="p3#k", fee_cents=100),
    ]
    statuses: dict[str, PaymentStatus | None] = dict.fromkeys(("p1", "p3", "p4"), PaymentStatus.APPROVED)
    result = tie(rows, entries, statuses=statuses)
    assert {(d.check, d.reason, d.payment_id, d.payment_guid) for d in result.differences} == {
        ("invoice_cloud", "amounts_differ", "p1", "G-1"),
        ("invoice_cloud", "unknown_payment", "p9", "G-9"),
        ("fees", "unknown_payment", "p9", "G-9"),
        ("invoice_cloud", "not_in_invoice_cloud", "p4", "G-4"),
        ("fees", "not_in_invoice_cloud", "p4", "G-4"),
        ("fees", "fees_differ", "p3", "G-3"),
    }


def test_the_export_must_carry_what_the_ledger_recorded_on_the_day() -> None:
    entries = [paid(), paid(payment_id="p2", payment_guid="G-2", credit_key="p2#k")]
    rows = [row(), row(biller_reference="p2", payment_guid="G-2")]
    statuses: dict[str, PaymentStatus | None] = {"p1": PaymentStatus.APPROVED, "p2": PaymentStatus.APPROVED}
    stale = tie(rows, entries, statuses=statuses, written=exported(entries[0]))
    assert [(d.check, d.reason, d.payment_id, d.kind) for d in stale.differences] == [
        ("export", "not_in_export", "p2", "PAYMENT"),
        ("export", "fees_differ", "p2", "PAYMENT"),
    ]
    missing = tie_out(
        DAY, EASTERN, rows=rows, files=[], dated=entries, recorded=entries, exported=None, export_key="k",
        export_fields=frozenset(), statuses=statuses, methods={}, computed_at=AT, grace_days=2, final=True,
    )  # fmt: skip
    assert {(d.reason, d.payment_id) for d in missing.differences} == {
        ("export_missing", "p1"),
        ("export_missing", "p2"),
    }
    assert missing.as_dict()["final"] is True


def test_a_row_that_cannot_be_read_is_a_difference() -> None:
    result = tie([row()], [paid()], unreadable=("invoicecloud/2026-11-25.csv line 7",))
    assert not result.ties_out
    assert result.as_dict()["differences"] == [
        {
            "check": "invoice_cloud",
            "reason": "unreadable_row",
            "where": "invoicecloud/2026-11-25.csv line 7",
            "invoiceCloud": "0.00",
            "ours": "0.00",
            "difference": "0.00",
        }
    ]
