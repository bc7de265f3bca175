"""Reconciliation black-box on the running sandbox (DESIGN §6d, §6e): Invoice Cloud's payment file
(written by the simulator into the inbound bucket, which triggers ``reconcile_payments`` as S3
would) recovers a lost postback, applies voids, ACH returns and chargebacks, reports money that never
moved, changes nothing the second time, refuses malformed files; the biller's export is the same
bytes on a re-run, and a credit stays off what is payable until a billing file after its export."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
import requests
from avocette.store.table import deserialize
from botocore.exceptions import ClientError

from sandbox.demo import BILLING_FILE
from sandbox.runner import Sandbox, SandboxPorts
from tests.sandbox_client import SandboxClient

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[SandboxClient]:
    requests.post(f"{sandbox.simulator_url}/_sim/reset", timeout=10).raise_for_status()
    yield SandboxClient(api=sandbox.gateway_url, simulator=sandbox.simulator_url)


def s3(sandbox: Sandbox) -> Any:
    return boto3.client("s3", endpoint_url=sandbox.moto_url)


def start(client: SandboxClient, sub: str, invoices: list[tuple[str, str]]) -> dict[str, Any]:
    body = {"invoices": [{"accountNumber": a, "invoiceNumber": i} for a, i in invoices]}
    answer = client.call("POST", "/payments", sub, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def pay(client: SandboxClient, payment: dict[str, Any], **body: Any) -> dict[str, Any]:
    session = payment["paymentUrl"].rstrip("/").rsplit("/", 1)[-1]
    answer = requests.post(
        f"{client.simulator}/_sim/sessions/{session}/complete",
        json={"outcome": "approve", "method": "CARD", **body},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def view(client: SandboxClient, sub: str, payment_id: str) -> dict[str, Any]:
    answer = client.call("GET", f"/payments/{payment_id}", sub)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def payable(client: SandboxClient, sub: str, account: str, number: str) -> str:
    accounts = client.call("GET", "/accounts", sub).json()["accounts"]
    (found,) = [
        i for a in accounts if a["accountNumber"] == account for i in a["invoices"] if i["invoiceNumber"] == number
    ]
    return str(found["payable"])


def config(client: SandboxClient, **settings: Any) -> None:
    requests.post(f"{client.simulator}/_sim/config", json=settings, timeout=10).raise_for_status()


def advance(sandbox: Sandbox, minutes: int) -> None:
    requests.post(f"{sandbox.gateway_url}/dev/clock", json={"advanceMinutes": minutes}, timeout=10).raise_for_status()


def today(sandbox: Sandbox) -> str:
    return str(requests.get(f"{sandbox.gateway_url}/dev/clock", timeout=10).json()["now"])[:10]


def payment_file(client: SandboxClient, sandbox: Sandbox, **body: Any) -> dict[str, Any]:
    """The simulator writes the day's payment file into the inbound bucket; wait for its report."""
    key = f"invoicecloud/{body.get('date') or today(sandbox)}.csv"
    s3(sandbox).delete_object(Bucket=sandbox.names.inbound_bucket, Key=key + ".report.json")
    answer = requests.post(f"{client.simulator}/_sim/payment-files", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    written = dict(answer.json())
    return report_of(sandbox, written["key"], written)


def report_of(
    sandbox: Sandbox, key: str, extra: dict[str, Any] | None = None, *, bucket: str | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            body = s3(sandbox).get_object(Bucket=bucket or sandbox.names.inbound_bucket, Key=key + ".report.json")
            return {**(extra or {}), "report": json.loads(body["Body"].read())}
        except ClientError:
            time.sleep(0.1)
    raise AssertionError(f"no report for {key}")


def drop(sandbox: Sandbox, key: str, text: str, *, bucket: str | None = None) -> dict[str, Any]:
    bucket = bucket or sandbox.names.inbound_bucket
    s3(sandbox).delete_object(Bucket=bucket, Key=key + ".report.json")
    s3(sandbox).put_object(Bucket=bucket, Key=key, Body=text.encode())
    return report_of(sandbox, key, bucket=bucket)["report"]


def mailbox(sandbox: Sandbox, to: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sandbox.gateway_url}/dev/mailbox", params={"to": to}, timeout=10)
    return list(answer.json()["messages"])


def table_item(sandbox: Sandbox, pk: str, sk: str) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb", endpoint_url=sandbox.moto_url)
    raw = dynamodb.get_item(
        TableName=sandbox.names.app_table, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
    )
    return deserialize(raw.get("Item", {}))


# ---- recovering a lost postback ---------------------------------------------------------------------


def test_a_payment_whose_postback_was_dropped_is_recovered_from_the_days_file(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    config(client, dropPostbacks=True)
    payment = start(client, "alice", [("ACCT-1001", "INV-1001-1"), ("ACCT-1001", "INV-1001-2")])
    pay(client, payment)
    assert view(client, "alice", payment["paymentId"])["status"] == "PENDING"

    written = payment_file(client, sandbox)

    report = written["report"]
    assert report["status"] == "IMPORTED" and report["counts"]["recovered"] == 2, report
    recovered = view(client, "alice", payment["paymentId"])
    assert (recovered["status"], recovered["amountPaid"]) == ("APPROVED", "126.35")
    assert payable(client, "alice", "ACCT-1001", "INV-1001-1") == "0.00"
    assert payable(client, "alice", "ACCT-1001", "INV-1001-2") == "0.00"

    # The same file again, and another file listing the same rows: nothing changes.
    before = view(client, "alice", payment["paymentId"])
    again = payment_file(client, sandbox)["report"]
    assert again["counts"]["matched"] == 2 and again["counts"]["recovered"] == 0, again
    other_key = written["key"].replace(".csv", "-copy.csv")
    body = (
        s3(sandbox)
        .get_object(Bucket=sandbox.names.inbound_bucket, Key=written["key"])["Body"]
        .read()
        .decode("utf-8-sig")
    )
    copy = drop(sandbox, other_key, body)
    assert copy["counts"]["matched"] == 2 and copy["counts"]["recovered"] == 0, copy
    assert view(client, "alice", payment["paymentId"]) == before


# ---- reversals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ACH_RETURN", "VOID", "REFUND", "CHARGEBACK"])
def test_a_reversal_makes_the_invoice_payable_again_and_tells_the_payer(
    sandbox: Sandbox, client: SandboxClient, kind: str
) -> None:
    payment = start(client, "bob", [("ACCT-2001", "INV-2001-1")])
    pay(client, payment, method="ACH" if kind == "ACH_RETURN" else "CARD")
    approved = view(client, "bob", payment["paymentId"])
    assert approved["status"] == "APPROVED"
    if kind == "ACH_RETURN":
        assert "Bank payments can take a few days to clear." in approved["statusMessage"]
    assert payable(client, "bob", "ACCT-2001", "INV-2001-1") == "0.00"
    mails = len(mailbox(sandbox, "bob@example.com"))

    report = payment_file(client, sandbox, reversals=[{"billerReference": payment["paymentId"], "kind": kind}])[
        "report"
    ]

    assert report["counts"]["reversed"] == 1, report
    reversed_ = view(client, "bob", payment["paymentId"])
    assert reversed_["status"] == "REVERSED" and reversed_["final"] is True
    assert [(r["kind"], r["amount"]) for r in reversed_["reversals"]] == [(kind, "63.75")]
    assert payable(client, "bob", "ACCT-2001", "INV-2001-1") == "63.75"
    emails = mailbox(sandbox, "bob@example.com")
    assert len(emails) == mails + 1 and "INV-2001-1" in emails[0]["body"]


def test_a_partial_chargeback_leaves_the_payment_approved_with_the_rest(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    payment = start(client, "alice", [("ACCT-1002", "INV-1002-1")])
    pay(client, payment)

    report = payment_file(
        client,
        sandbox,
        reversals=[
            {
                "billerReference": payment["paymentId"],
                "kind": "CHARGEBACK",
                "invoiceNumber": "INV-1002-1",
                "amount": "20.00",
            }
        ],
    )["report"]

    assert report["counts"]["reversed"] == 1
    after = view(client, "alice", payment["paymentId"])
    assert (after["status"], after["amountPaid"]) == ("APPROVED", "100.00")
    assert [(r["kind"], r["amount"]) for r in after["reversals"]] == [("CHARGEBACK", "20.00")]
    assert payable(client, "alice", "ACCT-1002", "INV-1002-1") == "20.00"


def test_a_chargeback_the_biller_won_gives_the_money_back_and_the_invoice_is_paid_again(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    # Given a card payment of a fresh invoice charged back in full on one day
    account, invoice = fresh_invoice(sandbox, "bob", "42.10")
    payment = start(client, "bob", [(account, invoice)])
    pay(client, payment)
    paid = view(client, "bob", payment["paymentId"])["amountPaid"]
    chargeback = {"billerReference": payment["paymentId"], "kind": "CHARGEBACK", "reasonCode": "4837"}
    assert payment_file(client, sandbox, reversals=[chargeback])["report"]["counts"]["reversed"] == 1
    assert view(client, "bob", payment["paymentId"])["status"] == "REVERSED"
    assert payable(client, "bob", account, invoice) == paid
    mails = len(mailbox(sandbox, "bob@example.com"))
    # When the biller wins the dispute, in the next day's file
    advance(sandbox, 24 * 60)
    won = {"billerReference": payment["paymentId"], "kind": "CHARGEBACK_REVERSAL", "reasonCode": "WON"}
    report = payment_file(client, sandbox, reversals=[won])["report"]
    # Then the payment is approved again, the invoice paid, both reversals listed, and the payer told
    assert report["counts"]["reversed"] == 1, report
    after = view(client, "bob", payment["paymentId"])
    assert (after["status"], after["amountPaid"]) == ("APPROVED", paid)
    assert [(r["kind"], r["amount"]) for r in after["reversals"]] == [
        ("CHARGEBACK", paid),
        ("CHARGEBACK_REVERSAL", paid),
    ]
    assert "reversed" not in after["statusMessage"]
    assert payable(client, "bob", account, invoice) == "0.00"
    emails = mailbox(sandbox, "bob@example.com")
    assert len(emails) == mails + 1 and "counts again" in emails[0]["subject"]


def test_a_chargeback_reversal_on_an_invoice_paid_again_meanwhile_goes_to_review(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    # Given an invoice charged back, then paid again by another payment
    account, invoice = fresh_invoice(sandbox, "bob", "18.00")
    first = start(client, "bob", [(account, invoice)])
    pay(client, first)
    chargeback = {"billerReference": first["paymentId"], "kind": "CHARGEBACK"}
    payment_file(client, sandbox, reversals=[chargeback])
    advance(sandbox, 24 * 60)
    second = start(client, "bob", [(account, invoice)])
    pay(client, second)
    assert view(client, "bob", second["paymentId"])["status"] == "APPROVED"
    # When the first payment's chargeback is reversed: the invoice would be paid twice
    won = {"billerReference": first["paymentId"], "kind": "CHARGEBACK_REVERSAL"}
    report = payment_file(client, sandbox, reversals=[won])["report"]
    # Then nothing is given back: the first payment waits in review, the second stands
    assert report["counts"]["mismatched"] == 1, report
    assert [d["reason"] for d in report["discrepancies"]] == ["chargeback_reversal_paid_again"]
    assert view(client, "bob", first["paymentId"])["status"] == "NEEDS_REVIEW"
    assert view(client, "bob", second["paymentId"])["status"] == "APPROVED"
    assert payable(client, "bob", account, invoice) == "0.00"


@pytest.mark.parametrize(("method", "kind"), [("CARD", "ACH_RETURN"), ("ACH", "CHARGEBACK")])
def test_a_reversal_whose_kind_contradicts_the_payment_method_is_a_mismatch_for_review(
    sandbox: Sandbox, client: SandboxClient, method: str, kind: str
) -> None:
    account, invoice = fresh_invoice(sandbox, "bob", "9.99")
    payment = start(client, "bob", [(account, invoice)])
    pay(client, payment, method=method)
    mails = len(mailbox(sandbox, "bob@example.com"))

    report = payment_file(client, sandbox, reversals=[{"billerReference": payment["paymentId"], "kind": kind}])[
        "report"
    ]

    assert report["counts"]["reversed"] == 0 and report["counts"]["mismatched"] == 1, report
    assert [d["reason"] for d in report["discrepancies"]] == ["reversal_kind_contradicts_method"]
    after = view(client, "bob", payment["paymentId"])
    assert after["status"] == "NEEDS_REVIEW" and not after.get("reversals")
    assert payable(client, "bob", account, invoice) == "0.00"
    assert len(mailbox(sandbox, "bob@example.com")) == mails


# ---- money that never moved -----------------------------------------------------------------------


def test_a_valid_token_postback_with_no_money_behind_it_is_reported_after_the_missing_days(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    from avocette.security import KeyRing

    payment = start(client, "bob", [("ACCT-2001", "INV-2001-1")])
    ring = KeyRing.from_secret(sandbox.secrets.postback_keys)
    forged = {
        "PaymentGUID": "no-such-money",
        "Approved": "True",
        "PaymentAmount": "63.75",
        "BillerReference": payment["paymentId"],
    }
    token = ring.postback_token(payment["paymentId"])
    answer = requests.post(f"{sandbox.gateway_url}/postback/{payment['paymentId']}/{token}", data=forged, timeout=10)
    assert answer.status_code == 200
    assert view(client, "bob", payment["paymentId"])["status"] == "APPROVED"  # a postback cannot tell

    first_day = today(sandbox)
    payment_file(client, sandbox)  # today's file: not listed, but it may still come
    for _ in range(3):
        advance(sandbox, 24 * 60)
        last = payment_file(client, sandbox)
    missing = [d for d in last["report"]["discrepancies"] if d["reason"] == "missing_from_invoice_cloud"]
    assert [(d["paymentId"], d["paymentGuid"]) for d in missing] == [(payment["paymentId"], "no-such-money")]
    assert missing[0]["at"].startswith(first_day)
    assert "Bob" not in json.dumps(last["report"]) and "bob@" not in json.dumps(last["report"])


# ---- malformed files ------------------------------------------------------------------------------


def test_a_file_that_does_not_match_its_format_is_rejected_whole(sandbox: Sandbox, client: SandboxClient) -> None:
    report = drop(sandbox, f"invoicecloud/{today(sandbox)}-wrong.csv", "Type,Guid,Amount\nPAYMENT,g,10.00\n")
    assert report["status"] == "REJECTED" and "header" in report["reason"]
    assert report["rows"] == 0


@pytest.mark.parametrize(
    "key",
    [
        "invoicecloud/2026-11-02%2e.csv",
        "invoicecloud/2026-11-02 a+b%41.csv",
        "billing/a b+c%41.csv",
        "billing/é%C3%A9.csv",
    ],
)
def test_a_key_with_percent_plus_or_space_reaches_its_function_as_it_is(sandbox: Sandbox, key: str) -> None:
    """S3's event carries the key form-encoded (``+`` for a space) and the functions decode it once; the
    sandbox decoded the request path once more, and ``%2e`` named another object (``.``)."""
    bucket = sandbox.names.billing_bucket if key.startswith("billing/") else sandbox.names.inbound_bucket
    report = drop(sandbox, key, "Type,Guid,Amount\nPAYMENT,g,10.00\n", bucket=bucket)
    assert (report["key"], report["status"]) == (key, "REJECTED")


def test_bad_rows_are_reported_by_line_and_column_and_the_good_ones_applied(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    config(client, dropPostbacks=True)
    payment = start(client, "bob", [fresh_invoice(sandbox, "bob", "12.00")])
    pay(client, payment)
    good = payment_file(client, sandbox)
    text = (
        s3(sandbox).get_object(Bucket=sandbox.names.inbound_bucket, Key=good["key"])["Body"].read().decode("utf-8-sig")
    )
    rows = list(csv.reader(io.StringIO(text)))
    header, row = rows[0], rows[1]
    bad_amount = [cell if name != "Amount" else "84.2.0" for name, cell in zip(header, row, strict=True)]
    bad_kind = [cell if name != "TransactionType" else "RETURNED_CHECK" for name, cell in zip(header, row, strict=True)]
    out = io.StringIO()
    csv.writer(out).writerows([header, bad_amount, bad_kind])

    report = drop(sandbox, f"invoicecloud/{today(sandbox)}-bad.csv", out.getvalue())

    assert report["status"] == "IMPORTED"
    assert {(p["row"], p["column"]) for p in report["badRows"]} == {(2, "Amount"), (3, "TransactionType")}
    assert "84.2.0" not in json.dumps(report) and "RETURNED_CHECK" not in json.dumps(report)


# ---- the biller's export --------------------------------------------------------------------------


def billing_file(
    sandbox: Sandbox, as_of: datetime, balance: str, *, account: str = "ACCT-2001", invoice: str = "INV-2001-1"
) -> dict[str, Any]:
    """The biller's file for one invoice, as of ``as_of``, dropped into the billing bucket (which
    triggers the billing import, as S3 would); its report. Bob's by default; another makes a new
    account and invoice with bob's profile."""
    with BILLING_FILE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    (row,) = [r for r in rows if r["InvoiceNumber"] == "INV-2001-1"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    writer.writerow({**row, "AccountNumber": account, "InvoiceNumber": invoice, "BalanceDue": balance})
    key = f"billing/{as_of.strftime('%Y%m%dT%H%M%SZ')}.csv"
    s3(sandbox).put_object(Bucket=sandbox.names.billing_bucket, Key=key, Body=out.getvalue().encode())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            report = s3(sandbox).get_object(Bucket=sandbox.names.billing_bucket, Key=key + ".report.json")
            return dict(json.loads(report["Body"].read()))
        except ClientError:
            time.sleep(0.1)
    raise AssertionError(f"no report for {key}")


def fresh_invoice(sandbox: Sandbox, sub: str, amount: str) -> tuple[str, str]:
    """A new account with one invoice of ``amount``, billed now and linked to ``sub``."""
    from avocette.store import links

    fresh_invoice.count += 1  # type: ignore[attr-defined]
    account, invoice = f"ACCT-9{fresh_invoice.count:03d}", f"INV-9{fresh_invoice.count:03d}-1"  # type: ignore[attr-defined]
    report = billing_file(sandbox, now_of(sandbox), amount, account=account, invoice=invoice)
    assert report["status"] == "IMPORTED", report
    links.put_link(links.Link(sub=sub, account_number=account, linked_at=now_of(sandbox)))
    return account, invoice


fresh_invoice.count = 0  # type: ignore[attr-defined]


def now_of(sandbox: Sandbox) -> datetime:
    return datetime.fromisoformat(requests.get(f"{sandbox.gateway_url}/dev/clock", timeout=10).json()["now"])


def test_the_export_is_the_same_bytes_on_a_rerun_and_a_credit_counts_until_a_billing_file_after_it(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    from avocette.service import export
    from avocette.settings.ledger import get_ledger_settings
    from avocette.settings.portal import get_biller_time_zone
    from avocette.settings.resources import get_exports_bucket

    account, invoice = fresh_invoice(sandbox, "bob", "63.75")
    payment = start(client, "bob", [(account, invoice)])
    pay(client, payment)
    payment_file(client, sandbox, reversals=[
        {"billerReference": payment["paymentId"], "kind": "CHARGEBACK", "invoiceNumber": invoice, "amount": "3.75"}
    ])  # fmt: skip
    assert payable(client, "bob", account, invoice) == "3.75"
    # A billing file made before the export: the biller cannot know the payment; it still counts.
    advance(sandbox, 1)
    early = billing_file(sandbox, now_of(sandbox), "63.75", account=account, invoice=invoice)
    assert early["status"] == "IMPORTED", early
    assert payable(client, "bob", account, invoice) == "3.75"

    zone = get_biller_time_zone()
    day = now_of(sandbox).astimezone(zone).date()
    settings = {"ledger": get_ledger_settings(), "bucket": get_exports_bucket(), "zone": zone}
    first = export.export_day(day, **settings)
    body = s3(sandbox).get_object(Bucket=sandbox.names.exports_bucket, Key=first.key)["Body"].read()
    again = export.export_day(day, **settings)
    assert s3(sandbox).get_object(Bucket=sandbox.names.exports_bucket, Key=again.key)["Body"].read() == body
    assert again.newly_exported == 0 and first.newly_exported >= 2
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    mine = [row for row in rows if row["Reference"] == payment["paymentId"]]
    assert [(row["Amount"], row["Kind"]) for row in mine] == [("63.75", "PAYMENT"), ("-3.75", "CHARGEBACK")]

    # Within the settlement lag after the export, a billing file is still not trusted to show it...
    advance(sandbox, 60)
    billing_file(sandbox, now_of(sandbox), "63.75", account=account, invoice=invoice)
    assert payable(client, "bob", account, invoice) == "3.75"
    # ...after it, the biller's file is the truth: it posted the payment and the chargeback.
    advance(sandbox, 25 * 60)
    late = billing_file(sandbox, now_of(sandbox), "3.75", account=account, invoice=invoice)
    assert late["status"] == "IMPORTED", late
    assert payable(client, "bob", account, invoice) == "3.75"
    item = table_item(sandbox, f"ACCOUNT#{account}", f"INVOICE#{invoice}")
    mine_credits = [c for c in item["credits"].values() if c["paymentId"] == payment["paymentId"]]
    assert all("reflectedAsOf" in credit for credit in mine_credits)
    assert item["unpaidCents"] == 375
