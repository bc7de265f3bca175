"""``reconcile_payments`` through its handler, on moto: an S3 event for a payment file in the inbound
bucket, the report beside the file. The sandbox's tests (test_sandbox_reconciliation.py) run the money
through it; these run what the file's key alone decides."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from sandbox.s3events import object_created_event
from tests.helpers import FakeContext, Stack, load_function, table_items

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
