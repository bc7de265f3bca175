"""The daily tie-out on the running sandbox (DESIGN §6f): two days of a payer's life — pay by card, a
decline then a payment, a bank payment whose postback is lost (recovered from the file), then an ACH
return, a refund, a chargeback and its reversal (the biller won) — and every day ties out: Invoice
Cloud's files, our ledger and the exports agree. When one of our credits is removed by hand, the
tie-out names its payment."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from sandbox.runner import Sandbox, SandboxPorts
from tests.sandbox_client import SandboxClient

pytestmark = pytest.mark.sandbox

ZONE = ZoneInfo("America/New_York")  # the sandbox's BILLER_TIME_ZONE (the template's default)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(sandbox: Sandbox) -> SandboxClient:
    requests.post(f"{sandbox.simulator_url}/_sim/reset", timeout=10).raise_for_status()
    return SandboxClient(api=sandbox.gateway_url, simulator=sandbox.simulator_url)


def now_of(sandbox: Sandbox) -> datetime:
    return datetime.fromisoformat(requests.get(f"{sandbox.gateway_url}/dev/clock", timeout=10).json()["now"])


def advance_to(sandbox: Sandbox, moment: datetime) -> None:
    minutes = max(0, int((moment - now_of(sandbox)).total_seconds() // 60) + 1)
    answer = requests.post(f"{sandbox.gateway_url}/dev/clock", json={"advanceMinutes": minutes}, timeout=10)
    answer.raise_for_status()


def at_local(day: date, hour: int) -> datetime:
    """``hour`` o'clock on ``day`` in the biller's zone."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


def start(client: SandboxClient, sub: str, account: str, invoice: str) -> dict[str, Any]:
    body = {"invoices": [{"accountNumber": account, "invoiceNumber": invoice}]}
    answer = client.call("POST", "/payments", sub, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def complete(client: SandboxClient, payment: dict[str, Any], outcome: str, method: str = "CARD") -> None:
    session = payment["paymentUrl"].rstrip("/").rsplit("/", 1)[-1]
    answer = requests.post(
        f"{client.simulator}/_sim/sessions/{session}/complete",
        json={"outcome": outcome, "method": method},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def s3(sandbox: Sandbox) -> Any:
    return boto3.client("s3", endpoint_url=sandbox.moto_url)


def payment_file(
    sandbox: Sandbox, client: SandboxClient, reversals: list[dict[str, Any]] | None = None, *, day: date | None = None
) -> None:
    """Invoice Cloud's file of ``day`` (UTC; default today), reconciled as S3 triggers it: wait for its report."""
    day = day or now_of(sandbox).date()
    key = f"invoicecloud/{day.isoformat()}.csv"
    bucket = sandbox.names.inbound_bucket
    s3(sandbox).delete_object(Bucket=bucket, Key=key + ".report.json")
    body = {"date": day.isoformat(), "reversals": reversals or []}
    answer = requests.post(f"{client.simulator}/_sim/payment-files", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            report = json.loads(s3(sandbox).get_object(Bucket=bucket, Key=key + ".report.json")["Body"].read())
            assert report["status"] == "IMPORTED" and not report["badRows"], report
            return
        except ClientError:
            time.sleep(0.1)
    raise AssertionError(f"no report for {key}")


def close_day(sandbox: Sandbox, day: date | None = None) -> dict[str, Any]:
    """What the schedule runs after the biller's midnight: the export, then the tie-outs."""
    answer = requests.post(
        f"{sandbox.gateway_url}/dev/run/ExportPaymentsFunction",
        json={"day": day.isoformat()} if day else None,
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["result"])


def stored_tie_out(sandbox: Sandbox, day: date) -> dict[str, Any]:
    body = s3(sandbox).get_object(Bucket=sandbox.names.exports_bucket, Key=f"tieout/{day.isoformat()}.json")["Body"]
    return dict(json.loads(body.read()))


def exported_rows(sandbox: Sandbox, day: date) -> list[dict[str, str]]:
    body = s3(sandbox).get_object(Bucket=sandbox.names.exports_bucket, Key=f"exports/{day.isoformat()}.csv")["Body"]
    return list(csv.DictReader(io.StringIO(body.read().decode())))


def test_two_days_of_payments_and_reversals_tie_out_and_a_credit_removed_by_hand_is_named(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    from avocette.service import tieout
    from avocette.store.table import dynamodb

    # Day one, mid-morning in the biller's zone: a card payment, a decline then a payment, a bank
    # payment whose postback Invoice Cloud never delivers.
    day_one = now_of(sandbox).astimezone(ZONE).date() + timedelta(days=1)  # a day no test used yet
    advance_to(sandbox, at_local(day_one, 10))
    card = start(client, "alice", "ACCT-1001", "INV-1001-1")
    complete(client, card, "approve")
    declined_then_paid = start(client, "bob", "ACCT-2001", "INV-2001-1")
    complete(client, declined_then_paid, "decline")
    complete(client, declined_then_paid, "approve")
    requests.post(f"{client.simulator}/_sim/config", json={"dropPostbacks": True}, timeout=10).raise_for_status()
    bank = start(client, "alice", "ACCT-1002", "INV-1002-1")
    complete(client, bank, "approve", method="ACH")
    requests.post(f"{client.simulator}/_sim/config", json={"dropPostbacks": False}, timeout=10).raise_for_status()
    assert client.call("GET", f"/payments/{bank['paymentId']}", "alice").json()["status"] == "PENDING"

    # Just after the biller's midnight, day one's export and tie-out: Invoice Cloud's file of the day
    # has not come, so nothing ties out yet, within the grace days.
    day_two = day_one + timedelta(days=1)
    advance_to(sandbox, at_local(day_two, 1))
    closed = close_day(sandbox)
    assert closed["day"] == day_one.isoformat()
    assert closed["tieOut"][0] == {"day": day_one.isoformat(), "tiesOut": False, "final": False, "differences": 4}
    pending = stored_tie_out(sandbox, day_one)
    assert {(d["reason"], d["paymentId"]) for d in pending["differences"] if d["check"] == "invoice_cloud"} == {
        ("not_in_invoice_cloud", card["paymentId"]),
        ("not_in_invoice_cloud", declined_then_paid["paymentId"]),
    }

    # Day two: Invoice Cloud's file of day one recovers the lost bank payment; then the bank returns
    # it, part of the card payment is refunded, bob's payment is charged back and the biller wins.
    advance_to(sandbox, at_local(day_two, 11))
    payment_file(sandbox, client, day=day_one)
    assert client.call("GET", f"/payments/{bank['paymentId']}", "alice").json()["status"] == "APPROVED"
    payment_file(sandbox, client, [
        {"billerReference": bank["paymentId"], "kind": "ACH_RETURN", "reasonCode": "R01"},
        {"billerReference": card["paymentId"], "kind": "REFUND", "invoiceNumber": "INV-1001-1", "amount": "10.00"},
        {"billerReference": declined_then_paid["paymentId"], "kind": "CHARGEBACK", "amount": "20.00",
         "invoiceNumber": "INV-2001-1", "reasonCode": "10.4"},
    ])  # fmt: skip
    payment_file(sandbox, client, [
        {"billerReference": declined_then_paid["paymentId"], "kind": "CHARGEBACK_REVERSAL"},
    ])  # fmt: skip
    assert client.call("GET", f"/payments/{bank['paymentId']}", "alice").json()["status"] == "REVERSED"

    advance_to(sandbox, at_local(day_two + timedelta(days=1), 4))
    closed = close_day(sandbox)  # day two's export, then day two's tie-out and day one's again
    assert closed["day"] == day_two.isoformat()
    assert {t["day"]: t["tiesOut"] for t in closed["tieOut"]} == {
        day_two.isoformat(): True,
        day_one.isoformat(): True,
        (day_one - timedelta(days=1)).isoformat(): True,
    }, closed
    first, second = stored_tie_out(sandbox, day_one), stored_tie_out(sandbox, day_two)
    assert first["invoiceCloud"]["payments"]["amount"] == first["ledger"]["payments"]["amount"] == "267.95"
    assert first["invoiceCloud"]["fees"] == first["ledger"]["fees"] == "3.00"
    assert first["export"]["fees"] == first["export"]["ledgerRecordedOnTheDay"]["fees"] == "2.00"  # one came later
    assert (
        second["invoiceCloud"]["reversals"]
        == second["ledger"]["reversals"]
        == {
            "VOID": "0.00",
            "REFUND": "-10.00",
            "ACH_RETURN": "-120.00",
            "CHARGEBACK": "-20.00",
            "CHARGEBACK_REVERSAL": "20.00",
        }
    )
    assert second["ledger"]["net"] == "-130.00"
    assert second["export"]["net"] == "-10.00"  # and the 120.00 recovered on day two: its own day is day one
    assert not first["differences"] and not second["differences"]
    # The recovered payment: Invoice Cloud dates it on day one, we recorded it on day two (in day two's
    # export, with day one as the payer's date).
    assert [(t["paymentId"], t["kind"], t["amount"], t["recordedOn"]) for t in first["timing"]] == [
        (bank["paymentId"], "PAYMENT", "120.00", day_two.isoformat())
    ]
    recovered = next(row for row in exported_rows(sandbox, day_two) if row["Kind"] == "PAYMENT")
    assert (recovered["Reference"], recovered["PaymentDate"], recovered["Amount"]) == (
        bank["paymentId"],
        day_one.isoformat(),
        "120.00",
    )

    # The export says what finance needs of each row: the payer's date, the fee once, the reason code.
    rows = exported_rows(sandbox, day_two)
    returned = next(row for row in rows if row["Kind"] == "ACH_RETURN")
    assert (returned["ReasonCode"], returned["PaymentDate"], returned["TransactionDate"], returned["Method"]) == (
        "R01",
        day_one.isoformat(),
        day_two.isoformat(),
        "ACH",
    )
    charged_back = next(row for row in rows if row["Kind"] == "CHARGEBACK")
    assert (charged_back["ReasonCode"], charged_back["Amount"], charged_back["CardType"]) == ("10.4", "-20.00", "Visa")
    fees = [row["ConvenienceFee"] for row in exported_rows(sandbox, day_one)]
    assert fees == ["1.00", "1.00"]

    # By hand, someone deletes the ledger entry of alice's card payment: the tie-out names it.
    table = sandbox.names.app_table
    (entry,) = [
        item
        for page in dynamodb().get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
        if item["PK"]["S"].startswith("LEDGER#")
        and item["paymentId"]["S"] == card["paymentId"]
        and item["kind"]["S"] == "PAYMENT"
    ]
    dynamodb().delete_item(TableName=table, Key={"PK": entry["PK"], "SK": entry["SK"]})
    again = tieout.tie_out_day(day_one, tieout.TieOutRules.from_environment())
    assert not again.ties_out
    named = {(d.check, d.reason, d.payment_id, d.payment_guid) for d in again.differences}
    guid = entry["paymentGuid"]["S"]
    assert ("invoice_cloud", "not_in_ledger", card["paymentId"], guid) in named
    assert ("export", "not_in_ledger", card["paymentId"], guid) in named
    shown = tieout.tie_out_day(day_one, tieout.TieOutRules.from_environment()).as_dict()
    assert card["paymentId"] in json.dumps(shown["differences"])
    assert "alice" not in json.dumps(shown) and "example.com" not in json.dumps(shown)
