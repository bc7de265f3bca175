"""The billing import against moto: rows to accounts and invoices, conditional on the file being newer,
credits from postbacks kept, full files closing what they leave out, the S3 trigger, the command line,
and nothing personal in any log line."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from avocette import SERVICE_NAME
from avocette.biller.billing_file import COLUMNS
from avocette.domain.billing import Credit
from avocette.domain.registration import registration_hash
from avocette.errors import StoreUnavailableError
from avocette.service import billing_import
from avocette.service.billing_import import ImportReport, ImportRules, ImportStatus, import_billing
from avocette.settings.registration import get_registration_hash_key
from avocette.store import billing as billing_store

from tests.helpers import AS_OF, FakeContext, Stack, add_account, add_invoice, get_invoice, load_function, table_items
from tools import __main__ as tools_main
from tools import billing as billing_tool

BUCKET = "billing-import-tests"
NOV_10 = "billing/20261110T060000Z.csv"
NOV_10_FULL = "billing/20261110T060000Z-full.csv"
NOV_12 = "billing/20261112T060000Z.csv"
NOV_12_FULL = "billing/20261112T060000Z-full.csv"
NOV_05 = "billing/20261105T060000Z.csv"


# ---- building files ----------------------------------------------------------------------------


def row(account: str = "ACCT-1", invoice: str = "INV-1", balance: str = "100.00", **cells: str) -> dict[str, str]:
    """A row of the billing file; cells not given are valid (or blank where optional)."""
    values = {
        "AccountNumber": account,
        "Name": f"Name of {account}",
        "Address": f"{account} Orchard Lane",
        "City": "Tampa",
        "State": "FL",
        "Zip": "33601",
        "EmailAddress": f"{(account or 'nobody').lower()}@example.com",
        "RegistrationValue": f"{account}-REG",
        "InvoiceNumber": invoice,
        "TypeID": "6",
        "InvoiceDate": "10/28/2026",
        "DueDate": "11/20/2026",
        "BalanceDue": balance,
        "MinimumAmountDue": "",
        "AllowPartialPayments": "",
        "CCServiceFee": "",
        "ACHServiceFee": "",
    }
    values.update(cells)
    return values


def csv_text(rows: list[dict[str, str]], header: list[str] | tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for values in rows:
        writer.writerow([values.get(column, "") for column in header])
    return out.getvalue()


def run(rows: list[dict[str, str]], key: str = NOV_10, **options: Any) -> ImportReport:
    return import_billing(
        io.StringIO(csv_text(rows), newline=""), rules=ImportRules.from_environment(), key=key, **options
    )


def invoice_item(stack: Stack, account: str, invoice: str) -> dict[str, Any]:
    items = [item for item in table_items(stack, f"ACCOUNT#{account}") if item["SK"] == f"INVOICE#{invoice}"]
    assert items, f"no invoice {account}/{invoice}"
    return items[0]


def account_item(stack: Stack, account: str) -> dict[str, Any]:
    (item,) = [item for item in table_items(stack, f"ACCOUNT#{account}") if item["SK"] == "PROFILE"]
    return item


def billing_items(stack: Stack) -> list[dict[str, Any]]:
    return table_items(stack, "ACCOUNT#")


def bad(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(problem.row, problem.column, problem.reason) for problem in report.bad_rows]


# ---- rows ---------------------------------------------------------------------------------------


def test_good_rows_are_written_and_bad_rows_skipped_and_listed(stack: Stack) -> None:
    # Given a file with two good rows and four bad ones (lines 2..7; the header is line 1)
    rows = [
        row("ACCT-1", "INV-1", "100.00", MinimumAmountDue="10", AllowPartialPayments="yes", CCServiceFee="1.50"),
        row("ACCT-1", "INV-2", "$1,250.00", InvoiceDate="2026-10-01", DueDate=""),
        row("ACCT-2", "INV-1", "10.00", DueDate="02/30/2026"),
        row("ACCT-3", "INV-1", "ten dollars"),
        row("", "INV-9", "5.00"),
        row("ACCT-1", "INV-1", "999.00"),
    ]

    # When it is imported
    report = run(rows)

    # Then the good rows are written and each bad row is listed by line, column and reason
    assert report.status is ImportStatus.IMPORTED
    assert report.rows == 6
    assert (report.invoices.written, report.accounts.written) == (2, 1)
    assert bad(report) == [
        (4, "DueDate", "not a real date as MM/DD/YYYY or YYYY-MM-DD"),
        (5, "BalanceDue", "amount is not a number with at most two decimals"),
        (6, "AccountNumber", "required"),
        (7, "InvoiceNumber", "repeats the invoice of line 2"),
    ]
    first = get_invoice("ACCT-1", "INV-1")
    assert (first.billed_cents, first.minimum_amount_due_cents, first.allow_partial_payments) == (10000, 1000, True)
    assert (first.cc_service_fee_cents, first.type_id, first.billed_as_of.isoformat()) == (
        150,
        6,
        "2026-11-10T06:00:00+00:00",
    )
    second = get_invoice("ACCT-1", "INV-2")
    assert (second.billed_cents, second.invoice_date.isoformat() if second.invoice_date else None) == (
        125000,
        "2026-10-01",
    )
    assert second.due_date is None and second.credits == {} and second.closed_at is None
    # And nothing of the bad rows reached the table
    assert {item["PK"] for item in billing_items(stack)} == {"ACCOUNT#ACCT-1"}
    assert invoice_item(stack, "ACCT-1", "INV-1")["billedCents"] == 10000


def test_the_account_profile_comes_from_the_first_row_and_differences_are_warned(stack: Stack) -> None:
    report = run(
        [
            row("ACCT-1", "INV-1", Name="Kim First"),
            row("ACCT-1", "INV-2", Name="Kim Second", Zip="33602"),
            row("ACCT-1", "INV-3", Name="Kim First"),
        ]
    )
    assert report.status is ImportStatus.IMPORTED and report.bad_rows == []
    assert [(w.row, w.column) for w in report.warnings] == [(3, "Name"), (3, "Zip")]
    assert report.warnings[0].reason == "differs from line 2; the first row's value is kept"
    assert "Kim" not in report.to_json()
    assert (report.accounts.written, report.invoices.written) == (1, 3)
    item = account_item(stack, "ACCT-1")
    assert (item["name"], item["zip"]) == ("Kim First", "33601")


def test_a_negative_balance_is_stored_as_a_credit_with_nothing_payable(stack: Stack) -> None:
    report = run([row("ACCT-1", "INV-1", "-25.00")])
    assert report.bad_rows == [] and report.invoices.written == 1
    invoice = get_invoice("ACCT-1", "INV-1")
    assert invoice.billed_cents == -2500
    assert invoice.payable_cents() == 0


def test_line_numbers_count_blank_lines_and_cells_that_span_lines(stack: Stack) -> None:
    text = csv_text([row("ACCT-1", "INV-1", Address="Unit 4\nOrchard Lane"), row("ACCT-1", "INV-2", "x")])
    text = text.replace(
        "\r\nACCT-1,Name of ACCT-1,ACCT-1 Orchard Lane", "\r\n\r\nACCT-1,Name of ACCT-1,ACCT-1 Orchard Lane"
    )
    report = import_billing(io.StringIO(text, newline=""), rules=ImportRules.from_environment(), key=NOV_10)
    # header 1, row 2-3 (a quoted line break), blank 4, bad row 5
    assert report.rows == 2
    assert bad(report) == [(5, "BalanceDue", "amount is not a number with at most two decimals")]
    assert account_item(stack, "ACCT-1")["address"] == "Unit 4\nOrchard Lane"


def test_a_row_with_an_unquoted_comma_is_a_bad_row(stack: Stack) -> None:
    text = csv_text([row("ACCT-1", "INV-1")]) + "ACCT-2,Kim,1 Main St, Apt 2,Tampa,FL,33601,,,INV-1,6,,,5.00,,,,\r\n"
    report = import_billing(io.StringIO(text, newline=""), rules=ImportRules.from_environment(), key=NOV_10)
    assert bad(report) == [(3, "*", "the row has 18 cells; the header has 17")]
    assert report.invoices.written == 1


def test_at_most_a_thousand_bad_rows_are_listed(stack: Stack) -> None:
    rows = [row("ACCT-1", f"INV-{n}", "bad") for n in range(1003)]
    report = run(rows)
    assert report.status is ImportStatus.IMPORTED
    assert len(report.bad_rows) == 1000 and report.bad_rows_omitted == 3
    assert report.bad_row_count == 1003
    assert json.loads(report.to_json())["badRowsOmitted"] == 3


# ---- rejected files -----------------------------------------------------------------------------


def _never_read() -> Iterator[str]:
    raise AssertionError("a file with a bad key must not be read")
    yield ""  # pragma: no cover


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("billing/latest.csv", "the key must be billing/<YYYYMMDDTHHMMSSZ>[-full].csv"),
        ("billing/2026-11-10.csv", "the key must be billing/<YYYYMMDDTHHMMSSZ>[-full].csv"),
        ("billing/20261310T060000Z.csv", "the key's timestamp is not a real date and time"),
    ],
)
def test_a_key_without_a_valid_timestamp_is_rejected_unread(stack: Stack, key: str, reason: str) -> None:
    report = import_billing(_never_read(), rules=ImportRules.from_environment(), key=key)
    assert report.status is ImportStatus.REJECTED
    assert report.reason and report.reason.startswith(reason)
    assert report.as_of is None and report.rows == 0
    assert billing_items(stack) == []


def test_a_file_stamped_in_the_future_is_rejected(stack: Stack) -> None:
    report = run([row()], key="billing/20991231T000000Z.csv")
    assert (report.status, report.reason) == (ImportStatus.REJECTED, "the key's timestamp is in the future")
    assert billing_items(stack) == []


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ([c for c in COLUMNS if c != "DueDate"], "wrong header: missing columns: DueDate"),
        ([*COLUMNS, "Phone"], "wrong header: unexpected columns: 'Phone'"),
        (
            ["Balance Due" if c == "BalanceDue" else c for c in COLUMNS],
            "wrong header: missing columns: BalanceDue; unexpected columns: 'Balance Due'",
        ),
    ],
    ids=["missing", "extra", "misspelled"],
)
def test_a_wrong_header_rejects_the_whole_file(stack: Stack, header: list[str], reason: str) -> None:
    text = csv_text([row("ACCT-1", "INV-1")], header=header)
    report = import_billing(io.StringIO(text, newline=""), rules=ImportRules.from_environment(), key=NOV_10)
    assert (report.status, report.reason) == (ImportStatus.REJECTED, reason)
    assert billing_items(stack) == []


def test_columns_may_come_in_any_order(stack: Stack) -> None:
    text = csv_text([row("ACCT-1", "INV-1", "12.34")], header=list(reversed(COLUMNS)))
    report = import_billing(io.StringIO(text, newline=""), rules=ImportRules.from_environment(), key=NOV_10)
    assert report.status is ImportStatus.IMPORTED
    assert get_invoice("ACCT-1", "INV-1").billed_cents == 1234


def test_an_empty_file_is_rejected(stack: Stack) -> None:
    report = import_billing(iter([]), rules=ImportRules.from_environment(), key=NOV_10)
    assert (report.status, report.reason) == (ImportStatus.REJECTED, "the file is empty: no header row")


# ---- conditional writes -------------------------------------------------------------------------


def test_an_older_file_after_a_newer_one_changes_nothing(stack: Stack) -> None:
    run([row("ACCT-1", "INV-1", "100.00", Name="Kim Newer")], key=NOV_10)
    before = billing_items(stack)

    report = run([row("ACCT-1", "INV-1", "55.00", Name="Kim Older"), row("ACCT-1", "INV-2", "1.00")], key=NOV_05)

    assert report.status is ImportStatus.IMPORTED
    assert (report.accounts.written, report.accounts.unchanged) == (0, 1)
    assert (report.invoices.written, report.invoices.unchanged) == (1, 1)  # INV-2 is new: nothing newer stored
    after = [item for item in billing_items(stack) if item["SK"] != "INVOICE#INV-2"]
    assert after == before


def test_the_same_file_twice_changes_nothing_the_second_time(stack: Stack) -> None:
    rows = [row("ACCT-1", "INV-1"), row("ACCT-1", "INV-2"), row("ACCT-2", "INV-1")]
    first = run(rows, key=NOV_10_FULL)
    before = billing_items(stack)

    second = run(rows, key=NOV_10_FULL)

    assert (first.invoices.written, first.accounts.written) == (3, 2)
    assert (second.invoices.written, second.invoices.unchanged, second.invoices.closed) == (0, 3, 0)
    assert (second.accounts.written, second.accounts.unchanged) == (0, 2)
    assert billing_items(stack) == before


def test_a_newer_file_updates_billed_values_and_keeps_postback_credits_and_holds(stack: Stack) -> None:
    # Given an imported invoice that two postbacks credited (one of them carried by the biller's
    # export the day before) and a payment session holds
    run([row("ACCT-1", "INV-1", "100.00", MinimumAmountDue="20.00", CCServiceFee="1.00")], key=NOV_10)
    invoice = get_invoice("ACCT-1", "INV-1")
    exported = Credit(
        payment_id="p-0",
        cents=4000,
        approved_at=invoice.billed_as_of + timedelta(hours=1),
        exported_at=invoice.billed_as_of + timedelta(hours=23, minutes=30),
    )
    not_exported = Credit(payment_id="p-1", cents=1000, approved_at=invoice.billed_as_of + timedelta(hours=30))
    hold_until = invoice.billed_as_of + timedelta(days=15)
    billing_store.put_invoice(
        replace(
            invoice,
            credits={"pay-1": exported, "pay-2": not_exported},
            open_payment_id="pay-2",
            open_until=hold_until,
        )
    )

    # When a newer file (a settlement lag after the export) bills another amount and leaves the
    # minimum and the fee blank
    report = run([row("ACCT-1", "INV-1", "60.00")], key=NOV_12)

    # Then the billed values are the file's, the blanks are removed, the exported credit is marked as
    # reflected by this file, the other still counts against what is payable, and the hold is intact
    assert report.invoices.written == 1
    after = get_invoice("ACCT-1", "INV-1")
    assert after.billed_cents == 6000
    assert after.billed_as_of.isoformat() == "2026-11-12T06:00:00+00:00"
    assert after.credits == {
        "pay-1": replace(exported, reflected_as_of=after.billed_as_of),
        "pay-2": not_exported,
    }
    assert after.payable_cents() == 5000
    assert (after.open_payment_id, after.open_until) == ("pay-2", hold_until)
    item = invoice_item(stack, "ACCT-1", "INV-1")
    assert "minimumAmountDueCents" not in item and "ccServiceFeeCents" not in item
    assert isinstance(item["billedCents"], int)
    assert (item["unpaidCents"], item["unreflectedCents"]) == (5000, 1000)


def test_items_written_by_other_code_are_updated_when_older(stack: Stack) -> None:
    add_account("ACCT-7", name="Old Name")
    add_invoice("ACCT-7", "INV-1", "10.00", credits={"p": Credit(payment_id="p-0", cents=100, approved_at=AS_OF)})
    report = run([row("ACCT-7", "INV-1", "12.00", Name="New Name")], key=NOV_10)
    assert (report.accounts.written, report.invoices.written) == (1, 1)
    assert account_item(stack, "ACCT-7")["name"] == "New Name"
    after = get_invoice("ACCT-7", "INV-1")
    assert (after.billed_cents, list(after.credits)) == (1200, ["p"])


# ---- full files ---------------------------------------------------------------------------------


def test_a_full_file_closes_the_invoices_it_leaves_out_but_not_those_of_its_bad_rows(stack: Stack) -> None:
    # Given four open invoices
    run([row("ACCT-1", "INV-1"), row("ACCT-1", "INV-2"), row("ACCT-2", "INV-1"), row("ACCT-3", "INV-1")], key=NOV_10)

    # When a full file lists ACCT-1/INV-1, ACCT-2/INV-1 in a bad row, and leaves out the other two
    full_file = [row("ACCT-1", "INV-1", "80.00"), row("ACCT-2", "INV-1", "oops")]
    report = run(full_file, key=NOV_12_FULL)

    # Then only the two left out are closed, as of the file's time
    assert report.invoices.closed == 2
    assert bad(report) == [(3, "BalanceDue", "amount is not a number with at most two decimals")]
    closed = {ref: get_invoice(*ref).closed_at for ref in (("ACCT-1", "INV-2"), ("ACCT-3", "INV-1"))}
    assert {moment.isoformat() if moment else None for moment in closed.values()} == {"2026-11-12T06:00:00+00:00"}
    assert get_invoice("ACCT-1", "INV-2").payable_cents() == 0
    assert get_invoice("ACCT-1", "INV-1").closed_at is None
    assert get_invoice("ACCT-2", "INV-1").closed_at is None
    assert get_invoice("ACCT-2", "INV-1").billed_cents == 10000  # the bad row changed nothing

    # And the same full file again closes nothing more; a newer file listing a closed invoice reopens it
    assert run(full_file, key=NOV_12_FULL).invoices.closed == 0
    run([row("ACCT-3", "INV-1", "5.00")], key="billing/20261113T060000Z.csv")
    reopened = get_invoice("ACCT-3", "INV-1")
    assert (reopened.closed_at, reopened.billed_cents) == (None, 500)


def test_a_file_that_is_not_full_closes_nothing(stack: Stack) -> None:
    run([row("ACCT-1", "INV-1"), row("ACCT-1", "INV-2")], key=NOV_10)
    report = run([row("ACCT-1", "INV-1")], key=NOV_12)
    assert report.invoices.closed == 0
    assert get_invoice("ACCT-1", "INV-2").closed_at is None


def test_an_older_full_file_does_not_close_newer_invoices(stack: Stack) -> None:
    run([row("ACCT-1", "INV-1"), row("ACCT-1", "INV-2")], key=NOV_12)
    report = run([row("ACCT-1", "INV-1")], key=NOV_10_FULL)
    assert (report.invoices.closed, report.invoices.unchanged) == (0, 1)
    assert get_invoice("ACCT-1", "INV-2").closed_at is None


# ---- registration values ------------------------------------------------------------------------


def test_the_registration_value_is_stored_only_as_its_keyed_hash(stack: Stack) -> None:
    run([row("ACCT-1", "INV-1", RegistrationValue="Zq-7781-Kp")], key=NOV_10)
    item = account_item(stack, "ACCT-1")
    assert item["registrationHash"] == registration_hash(get_registration_hash_key(), "Zq-7781-Kp")
    everything = json.dumps(table_items(stack), default=str).upper()
    assert "ZQ-7781-KP" not in everything and "ZQ7781KP" not in everything
    assert "7781" not in everything

    # A newer file with a blank value removes the hash: the account can no longer be proven
    run([row("ACCT-1", "INV-1", RegistrationValue="")], key=NOV_12)
    assert "registrationHash" not in account_item(stack, "ACCT-1")
    assert billing_store.get_account("ACCT-1") is not None


# ---- failures, metrics, streaming ---------------------------------------------------------------


def test_dynamodb_failing_fails_the_import_and_closes_nothing(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    run([row("ACCT-1", "INV-1"), row("ACCT-1", "INV-2")], key=NOV_10)
    calls = {"n": 0}
    real = billing_store.update_invoice_from_billing

    def flaky(invoice: Any, **options: Any) -> bool:
        calls["n"] += 1
        if calls["n"] >= 3:
            raise StoreUnavailableError("DynamoDB is unavailable")
        return real(invoice, **options)

    monkeypatch.setattr(billing_store, "update_invoice_from_billing", flaky)
    rows = [row("ACCT-1", "INV-1", "1.00")] + [row("ACCT-2", f"INV-{n}") for n in range(40)]
    report = run(rows, key=NOV_12_FULL)

    assert report.status is ImportStatus.FAILED
    assert report.reason and "drop the same file again" in report.reason
    assert report.rows < len(rows)  # it stopped reading
    assert report.invoices.closed == 0
    assert get_invoice("ACCT-1", "INV-2").closed_at is None


def test_metrics_count_rejected_imported_and_closed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded: list[tuple[str, float]] = []
    monkeypatch.setattr(billing_import.metrics, "add_metric", lambda name, unit, value: recorded.append((name, value)))
    run([row("ACCT-1", "INV-1"), row("ACCT-1", "INV-2")], key=NOV_10)
    run([row("ACCT-1", "INV-1"), row("ACCT-1", "INV-3", "x"), row("", "INV-4")], key=NOV_12_FULL)
    run([row()], key="billing/nope.csv")
    assert recorded == [
        ("BillingRowsRejected", 0),
        ("BillingRowsImported", 2),
        ("BillingInvoicesClosed", 0),
        ("BillingRowsRejected", 2),
        ("BillingRowsImported", 1),
        ("BillingInvoicesClosed", 1),
        ("BillingRowsRejected", 1),
        ("BillingRowsImported", 0),
        ("BillingInvoicesClosed", 0),
    ]


def test_rows_are_written_while_the_file_is_read_with_a_bounded_number_in_flight(stack: Stack) -> None:
    # 1,500 rows (500 accounts, 3 invoices each), read one line at a time
    rows = [row(f"ACCT-{n // 3}", f"INV-{n % 3}", f"{n}.00") for n in range(1500)]
    lines = csv_text(rows).splitlines(keepends=True)
    done: list[int] = []
    behind: list[int] = []

    def reading() -> Iterator[str]:
        for number, line in enumerate(lines):
            if number > 1:
                behind.append((number - 1) - (done[-1] if done else 0))  # rows yielded - rows done
            yield line

    report = import_billing(reading(), rules=ImportRules.from_environment(), key=NOV_10, progress=done.append)

    assert report.status is ImportStatus.IMPORTED
    assert (report.rows, report.invoices.written, report.accounts.written) == (1500, 1500, 500)
    assert done[-1] == 1500
    assert max(behind) <= billing_import.MAX_IN_FLIGHT + 1  # never more rows in flight than slots
    halfway = len(lines) // 2
    assert done[halfway] > 0  # rows were written before the file was read to the end
    assert len(table_items(stack, "ACCOUNT#")) == 2000


class _ChunkedBody:
    """A stand-in for botocore's StreamingBody that records how it is read."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.reads: list[int | None] = []
        self.closed = False

    def read(self, amount: int | None = None) -> bytes:
        self.reads.append(amount)
        return self.stream.read(amount)

    def close(self) -> None:
        self.closed = True


def test_the_s3_body_is_read_a_chunk_at_a_time() -> None:
    text = "\ufeff" + csv_text([row("ACCT-1", f"INV-{n}", Name="Zoë Ünïcode") for n in range(3000)])
    body = _ChunkedBody(text.encode())

    class _S3:
        def get_object(self, **request: Any) -> dict[str, Any]:
            assert request == {"Bucket": "b", "Key": "k", "VersionId": "v1"}
            return {"Body": body}

    lines = billing_import._object_lines(_S3(), "b", "k", "v1")
    assert body.reads == []  # nothing is fetched before the first line is asked for
    first = next(lines)
    assert first.startswith("AccountNumber,") and first.endswith("\r\n")  # the BOM is gone, line ends kept
    assert len(body.reads) == 1
    rest = list(lines)
    assert "".join([first, *rest]) == text.removeprefix("\ufeff")
    assert None not in body.reads and max(r for r in body.reads if r is not None) <= 64 * 1024
    assert len(body.reads) > 5 and body.closed


# ---- S3 and the Lambda function -----------------------------------------------------------------


def s3_event(key: str, *, bucket: str = BUCKET, quoted: str | None = None) -> dict[str, Any]:
    """An S3 ObjectCreated notification; S3 URL-encodes the key (``+`` for a space)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "BillingFile",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quoted or key, "size": 1, "eTag": "x", "sequencer": "0A1B2C3D4E5F678901"},
                },
            }
        ]
    }


@pytest.fixture
def bucket(stack: Stack) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return s3


def read_report(s3: Any, key: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=f"{key}.report.json")["Body"].read()
    report: dict[str, Any] = json.loads(body)
    return report


def test_an_s3_upload_is_imported_and_reported_beside_the_file(stack: Stack, bucket: Any) -> None:
    # Given a full file with a BOM, one bad row and one left-out invoice already stored, dropped in S3
    run([row("ACCT-9", "INV-1")], key=NOV_10)
    text = "\ufeff" + csv_text([row("ACCT-1", "INV-1", "12.50"), row("ACCT-1", "INV-2", "1.001")])
    bucket.put_object(Bucket=BUCKET, Key=NOV_12_FULL, Body=text.encode())

    # When S3 notifies the function
    answer = load_function("import_billing").lambda_handler(s3_event(NOV_12_FULL), FakeContext())

    # Then it imported the file and wrote the report next to it
    assert answer == {
        "imports": [
            {
                "key": NOV_12_FULL,
                "status": "IMPORTED",
                "rows": 2,
                "badRows": 1,
                "invoicesWritten": 1,
                "invoicesClosed": 1,
            }
        ]
    }
    report = read_report(bucket, NOV_12_FULL)
    assert {name: report[name] for name in ("key", "asOf", "full", "status", "rows")} == {
        "key": NOV_12_FULL,
        "asOf": "2026-11-12T06:00:00Z",
        "full": True,
        "status": "IMPORTED",
        "rows": 2,
    }
    assert report["accounts"] == {"written": 1, "unchanged": 0, "linksRemoved": 0}
    assert report["invoices"] == {"written": 1, "unchanged": 0, "closed": 1}
    assert report["badRows"] == [{"row": 3, "column": "BalanceDue", "reason": "amount has more than two decimals"}]
    assert (report["badRowsOmitted"], report["warnings"], "reason" in report) == (0, [], False)
    assert report["startedAt"] <= report["finishedAt"]
    assert get_invoice("ACCT-1", "INV-1").billed_cents == 1250
    assert get_invoice("ACCT-9", "INV-1").closed_at is not None


def test_an_s3_key_is_url_decoded_and_a_rejected_file_is_reported_not_raised(stack: Stack, bucket: Any) -> None:
    key = "billing/november bills.csv"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=csv_text([row()]).encode())

    answer = load_function("import_billing").lambda_handler(
        s3_event(key, quoted="billing/november+bills.csv"), FakeContext()
    )

    assert answer["imports"][0]["status"] == "REJECTED"
    report = read_report(bucket, key)
    assert report["status"] == "REJECTED" and report["asOf"] is None
    assert report["reason"].startswith("the key must be billing/<YYYYMMDDTHHMMSSZ>[-full].csv")
    assert billing_items(stack) == []


def test_a_file_that_is_not_utf8_is_rejected(stack: Stack, bucket: Any) -> None:
    data = csv_text([row("ACCT-1", "INV-1"), row("ACCT-2", "INV-1", Name="Jos\u00e9")]).encode("latin-1")
    bucket.put_object(Bucket=BUCKET, Key=NOV_10_FULL, Body=data)
    load_function("import_billing").lambda_handler(s3_event(NOV_10_FULL), FakeContext())
    report = read_report(bucket, NOV_10_FULL)
    assert report["status"] == "REJECTED"
    assert report["reason"].startswith("the file is not UTF-8 text")
    assert report["invoices"]["closed"] == 0


def test_a_failed_import_raises_so_that_the_event_is_retried(
    stack: Stack, bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(invoice: Any) -> bool:
        raise StoreUnavailableError("DynamoDB is unavailable")

    bucket.put_object(Bucket=BUCKET, Key=NOV_10, Body=csv_text([row()]).encode())
    module = load_function("import_billing")

    with monkeypatch.context() as patched:
        patched.setattr(billing_store, "update_invoice_from_billing", unavailable)
        with pytest.raises(module.BillingImportFailedError):
            module.lambda_handler(s3_event(NOV_10), FakeContext())

    assert read_report(bucket, NOV_10)["status"] == "FAILED"

    # And once DynamoDB is back, the same event imports the file
    assert module.lambda_handler(s3_event(NOV_10), FakeContext())["imports"][0]["status"] == "IMPORTED"


# ---- the command line ---------------------------------------------------------------------------


def test_the_command_line_imports_a_local_file_with_a_progress_bar(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "20261110T060000Z-full.csv"
    path.write_text(csv_text([row("ACCT-1", "INV-1"), row("ACCT-1", "INV-2", "bad")]), encoding="utf-8")

    status = tools_main.main(["billing", "import", str(path), "--table", stack.names.app_table])

    out, err = capsys.readouterr()
    assert status == 0
    assert "\r" in err and "2/2 rows" in err and "100.0%" in err and "rows/s" in err
    assert "IMPORTED: billing/20261110T060000Z-full.csv" in out
    assert "line 3, BalanceDue: amount is not a number" in out
    report = json.loads((tmp_path / "20261110T060000Z-full.csv.report.json").read_text())
    assert (report["status"], report["invoices"]["written"]) == ("IMPORTED", 1)
    assert get_invoice("ACCT-1", "INV-1").billed_cents == 10000


def test_the_command_line_exits_1_for_a_rejected_file(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    misnamed = tmp_path / "november.csv"
    misnamed.write_text(csv_text([row()]), encoding="utf-8")
    assert tools_main.main(["billing", "import", str(misnamed)]) == 1
    assert "REJECTED" in capsys.readouterr().out
    assert json.loads((tmp_path / "november.csv.report.json").read_text())["status"] == "REJECTED"

    wrong_header = tmp_path / "20261110T060000Z.csv"
    wrong_header.write_text(csv_text([row()], header=[*COLUMNS, "Phone"]), encoding="utf-8")
    assert tools_main.main(["billing", "import", str(wrong_header)]) == 1
    assert "unexpected columns: 'Phone'" in capsys.readouterr().out
    assert billing_items(stack) == []

    assert tools_main.main(["billing", "import", str(tmp_path / "20261110T060000Z-missing.csv")]) == 2


def test_the_command_line_uses_the_hash_key_secret_it_is_given(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRATION_HASH_KEY_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope")
    path = tmp_path / "20261110T060000Z.csv"
    path.write_text(csv_text([row("ACCT-1", "INV-1", RegistrationValue="R-1")]), encoding="utf-8")
    arn = boto3.client("secretsmanager").describe_secret(SecretId=stack.names.registration_hash_secret_name)["ARN"]

    assert tools_main.main(["billing", "import", str(path), "--hash-key-secret", arn]) == 0

    capsys.readouterr()
    expected = registration_hash(stack.secrets.registration_hash_key.encode(), "R-1")
    assert account_item(stack, "ACCT-1")["registrationHash"] == expected


def test_the_progress_bar_redraws_one_line() -> None:
    stream = io.StringIO()
    bar = billing_tool.ProgressBar(4, stream, interval=0)
    for done in range(1, 5):
        bar(done)
    bar.close(4)
    text = stream.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n") and "\n" not in text[:-1]
    assert "\r2/4 rows   50.0%" in text and "\r4/4 rows  100.0%" in text


# ---- logs ---------------------------------------------------------------------------------------


class _Everything(logging.Handler):
    """Keeps every record with all its attributes (extras included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__!r}")


def test_no_payer_data_reaches_the_logs(stack: Stack, bucket: Any, capfd: pytest.CaptureFixture[str]) -> None:
    module = load_function("import_billing")
    handler = _Everything()
    service_logger = logging.getLogger(SERVICE_NAME)
    service_logger.addHandler(handler)
    payer = {
        "Name": "Philippa Quartermaine",
        "Address": "4417 Wisteria Crescent",
        "City": "Xylophonia",
        "EmailAddress": "philippa.quartermaine@example.org",
        "RegistrationValue": "QX-90210-ZZ",
    }
    rows = [
        row("ACCT-1", "INV-1", **payer),
        row("ACCT-1", "INV-2", "12.3456", **payer),
        row("ACCT-1", "INV-3", **{**payer, "Name": "Philippa Q. Elsewhere", "EmailAddress": "not an email"}),
    ]
    try:
        bucket.put_object(Bucket=BUCKET, Key=NOV_10_FULL, Body=csv_text(rows).encode())
        module.lambda_handler(s3_event(NOV_10_FULL), FakeContext())
        bucket.put_object(Bucket=BUCKET, Key="billing/nope.csv", Body=csv_text(rows, header=list(payer)).encode())
        module.lambda_handler(s3_event("billing/nope.csv"), FakeContext())
        headless = csv_text(rows).split("\r\n", 1)[1]  # the header left out: the first line is payer data
        bucket.put_object(Bucket=BUCKET, Key=NOV_12, Body=headless.encode())
        module.lambda_handler(s3_event(NOV_12), FakeContext())
    finally:
        service_logger.removeHandler(handler)

    captured = capfd.readouterr()
    reports = [read_report(bucket, key) for key in (NOV_10_FULL, NOV_12)]
    assert reports[1]["reason"] == "the first line is not the header: it names none of the expected columns"
    output = "\n".join(handler.lines) + captured.out + captured.err + json.dumps(reports)
    assert "Billing import finished" in output and "Billing import stopped" in output  # the logs were captured
    assert NOV_10_FULL in output and "2026-11-10T06:00:00Z" in output
    forbidden = {*payer.values(), "Philippa", "Quartermaine", "Wisteria", "QX90210ZZ", "90210", "Elsewhere"}
    forbidden |= set(stack.secrets.all_values())
    leaks = sorted(value for value in forbidden if value in output)
    assert not leaks, f"found in logs: {leaks}"
