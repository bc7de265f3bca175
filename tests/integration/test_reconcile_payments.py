"""``reconcile_payments`` through its handler, on moto: an S3 event for a payment file in the inbound
bucket, the report beside the file. The sandbox's tests (test_sandbox_reconciliation.py) run the money
through it; these run what the file's key alone decides."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from sandbox.s3events import object_created_event
from tests.helpers import (
    FakeContext,
    Stack,
    add_account,
    add_invoice,
    approved_fields,
    get_payment,
    load_function,
    send_postback,
    start_payment,
    table_items,
)

HEADER = (
    "TransactionType,PaymentGUID,BillerReference,AccountNumber,InvoiceNumber,Amount,ConvenienceFee,TransactionDate\r\n"
)


def reconcile(stack: Stack, key: str, text: str = HEADER) -> tuple[dict[str, Any], dict[str, Any]]:
    """Drop ``text`` at ``key`` and notify the function as S3 would: (its answer, the report beside the file)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = stack.names.inbound_bucket
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    answer = load_function("reconcile_payments").lambda_handler(object_created_event(bucket, key), FakeContext())
    report = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}.report.json")["Body"].read())
    return answer, report


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-03"])
def test_a_payment_file_dated_too_early_to_look_back_is_rejected_with_a_report(stack: Stack, day: str) -> None:
    key = f"invoicecloud/{day}.csv"
    answer, report = reconcile(stack, key)
    assert answer == {"files": [{"key": key, "status": "REJECTED", "rows": 0, **dict.fromkeys(COUNTS, 0)}]}
    assert report["status"] == "REJECTED" and report["day"] == day
    assert report["reason"] == (
        f"the file's day {day} is too early: the check for postbacks Invoice Cloud never listed looks back "
        "3 days, before the first day of the calendar"
    )
    assert not table_items(stack, "RECON#")


@pytest.mark.parametrize("day", ["0001-01-04", "9999-12-31"])
def test_a_payment_file_dated_at_either_end_of_the_calendar_is_reconciled(stack: Stack, day: str) -> None:
    key = f"invoicecloud/{day}.csv"
    answer, report = reconcile(stack, key)
    assert answer["files"][0]["status"] == "IMPORTED" and report["status"] == "IMPORTED"
    (done,) = table_items(stack, "RECON#")
    assert (done["PK"], done["key"]) == (f"RECON#{day}", key)


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_a_row_dated_at_either_end_of_the_calendar_is_a_bad_row_and_the_file_is_reported(stack: Stack, at: str) -> None:
    """A chargeback at 0001-01-01T00:00Z was applied, then its payer's email (in the biller's zone,
    a day before the calendar starts) crashed the run: no report, and the email lost for good."""
    add_account("A-1", linked_to=("alice",), email="alice@example.com")
    add_invoice("A-1", "I-1", "50.00")
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    assert send_postback(stack, payment_id, approved_fields(payment_id, "50.00", guid="G-1")).status == 200
    row = f"CHARGEBACK,G-1,{payment_id},A-1,I-1,50.00,,{at}\r\n"
    answer, report = reconcile(stack, "invoicecloud/2026-11-25.csv", HEADER + row)
    assert answer["files"][0]["status"] == report["status"] == "IMPORTED"
    assert report["badRows"] == [
        {"row": 2, "column": "TransactionDate", "reason": "is not a date between 0001-01-02 and 9999-12-30"}
    ]
    assert get_payment("alice", payment_id).json["status"] == "APPROVED"


COUNTS = (
    "matched",
    "recovered",
    "mismatched",
    "under_review",
    "reversed",
    "reversals_recorded",
    "seen_before",
    "unknown_payment",
    "missing_from_invoice_cloud",
)
