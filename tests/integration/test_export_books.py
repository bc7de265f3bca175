"""The biller's export and the billing file's "payments posted through" mark on moto (DESIGN §5, §6e):
the export of a day of the biller's zone from the UTC partitions it overlaps (the days the clocks
change too), what each row carries, the credits it marks, and a billing file that says what its
system posted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest
from avocette import clock
from avocette.biller.billing_file import COLUMNS
from avocette.domain.billing import InvoiceRef
from avocette.domain.ledger import LedgerEntry
from avocette.service import export
from avocette.service.billing_import import ImportRules, import_billing
from avocette.settings.ledger import get_ledger_settings
from avocette.store import billing
from avocette.store.ledger import entry_to_item
from avocette.store.table import dynamodb, serialize

from tests.helpers import Stack, add_account, add_invoice, approved_fields, send_postback, start_payment, table_items

EASTERN = ZoneInfo("America/New_York")


@pytest.fixture
def clock_back() -> Iterator[None]:
    yield
    clock.set_offset(timedelta())


def export_of(stack: Stack, day: date, zone: ZoneInfo = EASTERN) -> list[dict[str, str]]:
    result = export.export_day(day, ledger=get_ledger_settings(), bucket=stack.names.exports_bucket, zone=zone)
    body = boto3.client("s3").get_object(Bucket=stack.names.exports_bucket, Key=result.key)["Body"].read()
    return list(csv.DictReader(io.StringIO(body.decode())))


def put_entry(stack: Stack, at: datetime, name: str) -> None:
    entry = LedgerEntry(
        at=at, credit_key=f"{name}#k", payment_id=name, kind="PAYMENT", payment_guid=f"G-{name}", method="CARD",
        source="postback", invoices={"A/I": 100},
    )  # fmt: skip
    dynamodb().put_item(TableName=stack.names.app_table, Item=serialize(entry_to_item(entry)))


@pytest.mark.parametrize(
    ("day", "inside", "outside"),
    [
        # An ordinary day: 05:00 UTC to 05:00 UTC the next day.
        (
            date(2026, 11, 25),
            ["2026-11-25T05:00:00", "2026-11-26T04:59:59"],
            ["2026-11-25T04:59:59", "2026-11-26T05:00:00"],
        ),
        # Spring forward, 23 hours: 05:00 UTC to 04:00 UTC.
        (
            date(2026, 3, 8),
            ["2026-03-08T05:00:00", "2026-03-09T03:59:59"],
            ["2026-03-08T04:59:59", "2026-03-09T04:00:00"],
        ),
        # Fall back, 25 hours: 04:00 UTC to 05:00 UTC.
        (
            date(2026, 11, 1),
            ["2026-11-01T04:00:00", "2026-11-02T04:59:59"],
            ["2026-11-01T03:59:59", "2026-11-02T05:00:00"],
        ),
    ],
)
def test_the_export_of_a_day_of_the_biller_is_its_hours_from_the_utc_partitions_it_overlaps(
    stack: Stack, day: date, inside: list[str], outside: list[str]
) -> None:
    for n, moment in enumerate([*inside, *outside]):
        put_entry(stack, datetime.fromisoformat(moment).replace(tzinfo=UTC), f"p{n}")
    rows = export_of(stack, day)
    assert sorted(row["Reference"] for row in rows) == [f"p{n}" for n in range(len(inside))]
    assert {row["PostedAt"] for row in rows} == {moment + "Z" for moment in inside}


def test_a_7_21_pm_payment_on_the_due_date_is_in_that_days_export_with_that_date(stack: Stack) -> None:
    """The issue's case: the payment is on the 26th in UTC; the biller's day, and its date, the 25th."""
    put_entry(stack, datetime(2026, 11, 26, 0, 21, tzinfo=UTC), "evening")
    (row,) = export_of(stack, date(2026, 11, 25))
    assert (row["Reference"], row["PaymentDate"], row["PostedAt"]) == ("evening", "2026-11-25", "2026-11-26T00:21:00Z")
    assert export_of(stack, date(2026, 11, 26)) == []


def test_a_postbacks_payment_date_fee_card_and_method_reach_the_export(stack: Stack) -> None:
    add_account("ACCT-1", linked_to=("alice",))
    add_invoice("ACCT-1", "INV-1", "50.00")
    add_invoice("ACCT-1", "INV-2", "25.00")
    payment_id = start_payment("alice", [("ACCT-1", "INV-1"), ("ACCT-1", "INV-2")]).json["paymentId"]
    fields = approved_fields(payment_id, "75.00", PaymentDate="11/25/2026 11:59:59 PM", ConvenienceFee="2.50")
    assert send_postback(stack, payment_id, fields).status == 200
    rows = export_of(stack, clock.utc_now().astimezone(EASTERN).date())
    assert [(r["InvoiceNumber"], r["Amount"], r["ConvenienceFee"], r["PaymentDate"], r["Method"], r["CardType"])
            for r in rows] == [
        ("INV-1", "50.00", "2.50", "2026-11-25", "CARD", "Visa"),
        ("INV-2", "25.00", "0.00", "2026-11-25", "CARD", "Visa"),
    ]  # fmt: skip
    (entry,) = table_items(stack, "LEDGER#")
    assert (entry["paidAt"], entry["feeCents"], entry["cardType"]) == ("2026-11-26T04:59:59Z", 250, "Visa")


def test_a_payment_date_that_cannot_be_read_dates_the_payment_by_when_we_received_it(stack: Stack) -> None:
    add_account("ACCT-1", linked_to=("alice",))
    add_invoice("ACCT-1", "INV-1", "50.00")
    payment_id = start_payment("alice", [("ACCT-1", "INV-1")]).json["paymentId"]
    assert send_postback(stack, payment_id, approved_fields(payment_id, "50.00", PaymentDate="Tuesday")).status == 200
    today = clock.utc_now().astimezone(EASTERN).date()
    (row,) = export_of(stack, today)
    assert row["PaymentDate"] == today.isoformat()
    (entry,) = table_items(stack, "LEDGER#")
    assert "paidAt" not in entry and "occurredAt" not in entry


def test_credits_of_identifiers_with_slashes_are_marked_exported(stack: Stack) -> None:
    """Found writing the export by the biller's day: the export split an entry's invoice key at its
    first "/" and marked ``A%2F1`` rather than ``A/1``: such a credit was never marked exported, and
    so counted against the bill for ever. The file showed the escaped key too."""
    add_account("ACCT/1", linked_to=("alice",))
    add_invoice("ACCT/1", "INV/1", "50.00")
    payment_id = start_payment("alice", [("ACCT/1", "INV/1")]).json["paymentId"]
    assert send_postback(stack, payment_id, approved_fields(payment_id, "50.00")).status == 200
    today = clock.utc_now().astimezone(EASTERN).date()
    (row,) = export_of(stack, today)
    assert (row["AccountNumber"], row["InvoiceNumber"]) == ("ACCT/1", "INV/1")
    invoice = billing.get_invoices([InvoiceRef(account_number="ACCT/1", invoice_number="INV/1")])
    (credit,) = next(iter(invoice.values())).credits.values()
    assert credit.exported_at is not None and credit.exported_day == today


# ---- "payments posted through" ---------------------------------------------------------------------


def billing_file(as_of: datetime, balances: dict[str, str], posted_through: dict[str, str]) -> None:
    """The biller's file as of ``as_of``: each invoice of ACCT-1 with its balance and mark."""
    header = (*COLUMNS, "PaymentsPostedThrough")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    for invoice, balance in balances.items():
        writer.writerow({
            "AccountNumber": "ACCT-1", "Name": "Pat", "RegistrationValue": "R", "InvoiceNumber": invoice,
            "BalanceDue": balance, "PaymentsPostedThrough": posted_through.get(invoice, ""),
        })  # fmt: skip
    key = f"billing/{as_of.strftime('%Y%m%dT%H%M%SZ')}.csv"
    report = import_billing(io.StringIO(out.getvalue(), newline=""), rules=ImportRules.from_environment(), key=key)
    assert report.status.value == "IMPORTED" and not report.bad_rows, report


def payable(invoice: str) -> int:
    (found,) = billing.get_invoices([InvoiceRef(account_number="ACCT-1", invoice_number=invoice)]).values()
    return found.payable_cents()


def test_a_billing_file_saying_what_its_system_posted_keeps_a_paid_bill_paid_over_a_weekend(
    stack: Stack, clock_back: None
) -> None:
    """Friday's payment is in Friday's export; Monday's billing file comes from a system that did not
    import it (a weekend, a failed import): the bill still shows the full balance. With the settlement
    lag alone, Monday's file would make the paid bill due again; its PaymentsPostedThrough mark says
    the system posted only Thursday's export, and the credit keeps counting until a file says it posted
    Friday's."""
    add_account("ACCT-1", linked_to=("alice",))
    add_invoice("ACCT-1", "MARKED", "50.00")
    add_invoice("ACCT-1", "LAG-ONLY", "50.00")
    payment_id = start_payment("alice", [("ACCT-1", "MARKED"), ("ACCT-1", "LAG-ONLY")]).json["paymentId"]
    assert send_postback(stack, payment_id, approved_fields(payment_id, "100.00")).status == 200
    friday = clock.utc_now().astimezone(EASTERN).date()
    export_of(stack, friday)
    assert payable("MARKED") == payable("LAG-ONLY") == 0

    clock.set_offset(timedelta(days=3))  # Monday
    before_friday = (friday - timedelta(days=1)).isoformat()
    billing_file(clock.utc_now(), {"MARKED": "50.00", "LAG-ONLY": "50.00"}, {"MARKED": before_friday})
    assert payable("MARKED") == 0  # the mark: Friday's export not posted, the credit still counts
    assert payable("LAG-ONLY") == 5000  # the lag alone: the paid bill is due again

    clock.set_offset(timedelta(days=3, hours=1))  # the billing system posts Friday's export
    billing_file(clock.utc_now(), {"MARKED": "0.00", "LAG-ONLY": "0.00"}, {"MARKED": friday.isoformat()})
    assert payable("MARKED") == payable("LAG-ONLY") == 0
    (marked,) = billing.get_invoices([InvoiceRef(account_number="ACCT-1", invoice_number="MARKED")]).values()
    assert all(credit.reflected for credit in marked.credits.values())
    assert marked.unpaid_cents == 0
