"""An account's credit balance (a credit invoice, billed below zero) through the functions (DESIGN §5,
"the account's credit"): GET /accounts shows it applied to the account's oldest invoices, a payment
asks Invoice Cloud for exactly what the portal shows, and the credit is netted from one payment only,
whatever the order in which payments start, expire, are approved late, are charged back and won, or
billing files list the credit again."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
import requests
from avocette import clock
from avocette.biller.billing_file import COLUMNS
from avocette.service import export, review
from avocette.service.billing_import import ImportRules, import_billing
from avocette.settings.ledger import get_ledger_settings
from avocette.settings.portal import get_biller_time_zone
from avocette.settings.resources import get_exports_bucket

from sandbox.s3events import object_created_event
from tests.helpers import (
    FakeContext,
    HttpResult,
    Stack,
    add_account,
    add_invoice,
    approved_fields,
    declined_fields,
    get_invoice,
    get_payment,
    http_event,
    invoke,
    load_function,
    send_postback,
    session_id_of,
    start_payment,
    table_items,
)
from tools import review as review_tool

OLDER, NEWER = date(2026, 11, 10), date(2026, 12, 10)
FILE_HEADER = (
    "TransactionType,PaymentGUID,BillerReference,AccountNumber,InvoiceNumber,Amount,ConvenienceFee,TransactionDate\r\n"
)


@pytest.fixture
def advance() -> Iterator[Any]:
    def move(by: timedelta) -> None:
        clock.set_offset(clock.offset() + by)

    yield move
    clock.set_offset(timedelta())


@pytest.fixture
def credit(stack: Stack) -> Stack:
    """C-1 (alice and bob): a 100.00 bill and a -50.00 credit invoice."""
    add_account("C-1", linked_to=("alice", "bob"), registration_value="C-1-REG")
    add_invoice("C-1", "I-1", "100.00")
    add_invoice("C-1", "I-CR", "-50.00")
    return stack


def accounts(sub: str = "alice") -> dict[str, Any]:
    answer = invoke("accounts", http_event("GET", "/accounts", sub=sub))
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.json
    return body


def account(number: str, sub: str = "alice") -> dict[str, Any]:
    return next(a for a in accounts(sub)["accounts"] if a["accountNumber"] == number)


def invoice_view(number: str, invoice: str, sub: str = "alice") -> dict[str, Any]:
    return next(i for i in account(number, sub)["invoices"] if i["invoiceNumber"] == invoice)


def started(sub: str, invoices: list[tuple[str, str]]) -> dict[str, Any]:
    answer = start_payment(sub, invoices)
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.json
    return body


def sent_to_invoice_cloud(stack: Stack, payment_url: str) -> dict[str, Any]:
    answer = requests.get(f"{stack.simulator_url}/_sim/sessions/{session_id_of(payment_url)}", timeout=5)
    answer.raise_for_status()
    request: dict[str, Any] = answer.json()["request"]
    return request


def payment_item(stack: Stack, payment_id: str) -> dict[str, Any]:
    (item,) = [i for i in table_items(stack, f"PAYMENT#{payment_id}") if i["SK"] == "PAYMENT"]
    return item


def credited(account_number: str, invoice: str) -> int:
    return sum(c.cents for c in get_invoice(account_number, invoice).credits.values())


def run_expiry() -> None:
    event = {"version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    load_function("expire_payments").lambda_handler(event, FakeContext())


def pay(stack: Stack, payment_id: str, amount: str, *, guid: str, invoice: str = "") -> HttpResult:
    answer = send_postback(stack, payment_id, approved_fields(payment_id, amount, guid=guid, invoice=invoice))
    assert answer.status == 200, answer.body
    return answer


# ---- what the payer sees, and what Invoice Cloud is asked to charge ----------------------------------


def test_the_portal_shows_the_credit_applied_to_the_bill(credit: Stack) -> None:
    shown = account("C-1")
    assert (shown["totalDue"], shown["creditApplied"]) == ("50.00", "50.00")
    assert "creditRemaining" not in shown
    bill, credit_invoice = (invoice_view("C-1", number) for number in ("I-1", "I-CR"))
    assert (bill["balanceDue"], bill["payable"], bill["creditApplied"]) == ("100.00", "50.00", "50.00")
    assert (credit_invoice["balanceDue"], credit_invoice["payable"]) == ("-50.00", "0.00")
    assert "creditApplied" not in credit_invoice


def test_a_payment_charges_what_the_portal_shows_the_bill_less_the_credit(credit: Stack) -> None:
    body = started("alice", [("C-1", "I-1")])

    assert body["amountDue"] == "50.00"
    (customer,) = sent_to_invoice_cloud(credit, body["paymentUrl"])["Customers"]
    assert [(i["InvoiceNumber"], i["BalanceDue"]) for i in customer["Invoices"]] == [("I-1", 50.0)]
    (line,) = payment_item(credit, body["paymentId"])["lines"]
    assert (line["dueCents"], line["accountCreditCents"]) == (5000, 5000)
    view = get_payment("alice", body["paymentId"]).json
    assert view["invoices"] == [
        {"accountNumber": "C-1", "invoiceNumber": "I-1", "amountDue": "50.00", "creditApplied": "50.00"}
    ]


def test_once_paid_the_account_owes_nothing_and_the_credit_is_not_offered_again(credit: Stack) -> None:
    body = started("alice", [("C-1", "I-1")])
    pay(credit, body["paymentId"], "50.00", guid="G-1")

    assert get_payment("alice", body["paymentId"]).json["status"] == "APPROVED"
    shown = account("C-1")
    assert (shown["totalDue"], invoice_view("C-1", "I-1")["payable"]) == ("0.00", "0.00")
    # The credit still covers the rest of the bill (it is the biller's to post), and nothing more.
    assert shown["creditApplied"] == "50.00" and "creditRemaining" not in shown
    again = start_payment("bob", [("C-1", "I-1")])
    assert (again.status, again.json["error"]) == (409, "invoice_not_payable")
    assert credited("C-1", "I-1") == 5000


def test_a_credit_invoice_cannot_be_paid(credit: Stack) -> None:
    answer = start_payment("alice", [("C-1", "I-CR")])
    assert (answer.status, answer.json["error"]) == (409, "invoice_not_payable")


def test_a_declined_payment_that_expires_gives_the_credit_to_the_next(credit: Stack, advance: Any) -> None:
    first = started("alice", [("C-1", "I-1")])
    assert send_postback(credit, first["paymentId"], declined_fields(first["paymentId"], "50.00")).status == 200
    advance(timedelta(minutes=30 + 15 + 1))
    run_expiry()
    assert payment_item(credit, first["paymentId"])["status"] == "EXPIRED"

    second = started("bob", [("C-1", "I-1")])
    assert second["amountDue"] == "50.00"
    (line,) = payment_item(credit, second["paymentId"])["lines"]
    assert line["accountCreditCents"] == 5000


# ---- the credit is netted from one payment only -------------------------------------------------------


def test_a_late_approval_of_an_expired_payment_cannot_spend_the_credit_again(credit: Stack, advance: Any) -> None:
    """alice's session expires while Invoice Cloud's page stays open; bob pays the bill less the credit;
    then alice's page is paid too. Each charged 50.00: together they paid the bill in full, and the
    credit would be left over (the payer charged 50.00 too much). The second approval goes to review,
    as any double payment does, and the invoice keeps exactly one payment."""
    first = started("alice", [("C-1", "I-1")])
    advance(timedelta(minutes=30 + 15 + 1))
    run_expiry()
    second = started("bob", [("C-1", "I-1")])
    assert second["amountDue"] == "50.00"

    pay(credit, second["paymentId"], "50.00", guid="G-B")
    pay(credit, first["paymentId"], "50.00", guid="G-A")

    assert payment_item(credit, second["paymentId"])["status"] == "APPROVED"
    late = payment_item(credit, first["paymentId"])
    assert (late["status"], late["reviewReason"]) == ("NEEDS_REVIEW", "duplicate_payment")
    assert credited("C-1", "I-1") == 5000
    assert account("C-1")["totalDue"] == "0.00"
    # Ops see why (the bill was offered less the credit), and cannot apply it by hand either: they
    # refund it at Invoice Cloud and dismiss it.
    shown = io.StringIO()
    review_tool.print_case(review.show_review(first["paymentId"]), out=shown)  # `python -m tools review show`
    assert "C-1/I-1: 50.00, 0.00  (due after 50.00 of the account's credit)" in shown.getvalue()
    with pytest.raises(review.ReviewRefusedError, match="above its bill"):
        review.apply_review(first["paymentId"], {"C-1/I-1": 5000}, note="IC portal", by="test")
    assert credited("C-1", "I-1") == 5000


def test_two_sessions_on_one_account_at_once_each_pay_their_part(stack: Stack) -> None:
    """Two payers of one household pay the account's two bills at the same time: the credit stays on
    the oldest, so together they pay exactly what the account owes."""
    add_account("C-2", linked_to=("alice", "bob"))
    add_invoice("C-2", "I-OLD", "100.00", due=OLDER)
    add_invoice("C-2", "I-NEW", "80.00", due=NEWER)
    add_invoice("C-2", "I-CR", "-50.00", due=NEWER)
    old = started("alice", [("C-2", "I-OLD")])
    new = started("bob", [("C-2", "I-NEW")])
    assert (old["amountDue"], new["amountDue"]) == ("50.00", "80.00")

    threads = [
        threading.Thread(target=pay, args=(stack, old["paymentId"], "50.00"), kwargs={"guid": "G-O"}),
        threading.Thread(target=pay, args=(stack, new["paymentId"], "80.00"), kwargs={"guid": "G-N"}),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [payment_item(stack, p["paymentId"])["status"] for p in (old, new)] == ["APPROVED", "APPROVED"]
    assert (credited("C-2", "I-OLD"), credited("C-2", "I-NEW")) == (5000, 8000)
    assert account("C-2")["totalDue"] == "0.00"


def test_a_chargeback_won_after_the_bill_was_paid_again_goes_to_review(credit: Stack) -> None:
    """alice pays 50.00 (the bill less the credit); her bank charges it back, so the bill is due again
    and bob pays it; then the biller wins the dispute. Giving alice's 50.00 back would pay the bill
    twice over (the credit left unused): the chargeback reversal goes to review instead."""
    first = started("alice", [("C-1", "I-1")])
    pay(credit, first["paymentId"], "50.00", guid="G-1")
    at = clock.timestamp(clock.utc_now())
    reconcile(credit, "invoicecloud/2026-11-25.csv", f"CHARGEBACK,G-1,{first['paymentId']},C-1,I-1,50.00,,{at}\r\n")
    assert account("C-1")["totalDue"] == "50.00"

    second = started("bob", [("C-1", "I-1")])
    assert second["amountDue"] == "50.00"
    pay(credit, second["paymentId"], "50.00", guid="G-2")
    row = f"CHARGEBACK_REVERSAL,G-1,{first['paymentId']},C-1,I-1,50.00,,{at}\r\n"
    reconcile(credit, "invoicecloud/2026-11-26.csv", row)

    assert payment_item(credit, first["paymentId"])["status"] == "NEEDS_REVIEW"
    assert payment_item(credit, second["paymentId"])["status"] == "APPROVED"
    assert credited("C-1", "I-1") == 5000  # bob's payment; alice's, less its chargeback
    assert account("C-1")["totalDue"] == "0.00"


def reconcile(stack: Stack, key: str, rows: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = stack.names.inbound_bucket
    s3.put_object(Bucket=bucket, Key=key, Body=(FILE_HEADER + rows).encode())
    answer = load_function("reconcile_payments").lambda_handler(object_created_event(bucket, key), FakeContext())
    assert answer["files"][0]["status"] == "IMPORTED", answer


# ---- a credit larger than the bills, the oldest first, part payments, several accounts -----------------


def test_a_credit_larger_than_the_bills_covers_them_and_the_rest_is_shown_left_over(stack: Stack) -> None:
    add_account("C-3", linked_to=("alice",))
    add_invoice("C-3", "I-1", "30.00")
    add_invoice("C-3", "I-CR", "-50.00")

    shown = account("C-3")
    assert (shown["totalDue"], shown["creditApplied"], shown["creditRemaining"]) == ("0.00", "30.00", "20.00")
    assert (invoice_view("C-3", "I-1")["payable"], invoice_view("C-3", "I-1")["creditApplied"]) == ("0.00", "30.00")
    answer = start_payment("alice", [("C-3", "I-1")])
    assert (answer.status, answer.json["error"]) == (409, "invoice_not_payable")


def test_the_credit_goes_to_the_oldest_invoices_first_whichever_are_paid(stack: Stack) -> None:
    add_account("C-4", linked_to=("alice",))
    add_invoice("C-4", "I-NEW", "80.00", due=NEWER)
    add_invoice("C-4", "I-OLD", "30.00", due=OLDER)
    add_invoice("C-4", "I-CR", "-50.00", due=NEWER)

    old, new = invoice_view("C-4", "I-OLD"), invoice_view("C-4", "I-NEW")
    assert (old["payable"], old["creditApplied"]) == ("0.00", "30.00")
    assert (new["payable"], new["creditApplied"]) == ("60.00", "20.00")
    assert account("C-4")["totalDue"] == "60.00"
    body = started("alice", [("C-4", "I-NEW")])
    assert body["amountDue"] == "60.00"


def test_paying_a_newer_bill_alone_leaves_the_credit_on_the_older_one(stack: Stack) -> None:
    add_account("C-5", linked_to=("alice",))
    add_invoice("C-5", "I-OLD", "100.00", due=OLDER)
    add_invoice("C-5", "I-NEW", "80.00", due=NEWER)
    add_invoice("C-5", "I-CR", "-50.00", due=NEWER)

    body = started("alice", [("C-5", "I-NEW")])
    assert body["amountDue"] == "80.00"
    pay(stack, body["paymentId"], "80.00", guid="G-1")

    assert (invoice_view("C-5", "I-OLD")["payable"], account("C-5")["totalDue"]) == ("50.00", "50.00")


def test_a_part_payment_leaves_the_rest_less_the_credit(stack: Stack, advance: Any) -> None:
    add_account("C-6", linked_to=("alice",))
    add_invoice("C-6", "I-1", "100.00", allow_partial=True, minimum="10.00")
    add_invoice("C-6", "I-CR", "-50.00")

    first = started("alice", [("C-6", "I-1")])
    assert first["amountDue"] == "50.00"
    pay(stack, first["paymentId"], "20.00", guid="G-1", invoice="I-1")
    assert payment_item(stack, first["paymentId"])["status"] == "APPROVED"
    advance(timedelta(minutes=6))  # the hold kept for the payment's other postbacks has lapsed

    assert invoice_view("C-6", "I-1")["payable"] == "30.00"
    second = started("alice", [("C-6", "I-1")])
    assert second["amountDue"] == "30.00"
    pay(stack, second["paymentId"], "30.00", guid="G-2")
    assert (account("C-6")["totalDue"], credited("C-6", "I-1")) == ("0.00", 5000)


def test_several_accounts_in_one_payment_each_net_their_own_credit(credit: Stack) -> None:
    add_account("D-1", linked_to=("alice",))
    add_invoice("D-1", "J-1", "40.00")

    body = started("alice", [("C-1", "I-1"), ("D-1", "J-1")])

    assert body["amountDue"] == "90.00"
    customers = sent_to_invoice_cloud(credit, body["paymentUrl"])["Customers"]
    amounts = {c["AccountNumber"]: [(i["InvoiceNumber"], i["BalanceDue"]) for i in c["Invoices"]] for c in customers}
    assert amounts == {"C-1": [("I-1", 50.0)], "D-1": [("J-1", 40.0)]}
    pay(credit, body["paymentId"], "90.00", guid="G-1")
    assert accounts()["totalDue"] == "0.00"


# ---- what the biller receives, and the credit in its later files ----------------------------------------


def billing_file(as_of: Any, rows: list[tuple[str, str, str]], *, full: bool = False) -> None:
    """A billing file as of ``as_of`` listing C-1's invoices (number, balance, due date)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for number, balance, due in rows:
        values = {
            "AccountNumber": "C-1",
            "Name": "Pat Payer",
            "RegistrationValue": "C-1-REG",
            "InvoiceNumber": number,
            "TypeID": "6",
            "InvoiceDate": "10/28/2026",
            "DueDate": due,
            "BalanceDue": balance,
        }
        writer.writerow([values.get(column, "") for column in COLUMNS])
    key = f"billing/{as_of:%Y%m%dT%H%M%SZ}{'-full' if full else ''}.csv"
    report = import_billing(io.StringIO(out.getvalue(), newline=""), rules=ImportRules.from_environment(), key=key)
    assert report.status.value == "IMPORTED", report


def exported_rows(day: date) -> list[dict[str, str]]:
    """The export rows of ``day`` and of the day before (whichever day the export counts the credit in)."""
    bucket = get_exports_bucket()
    rows: list[dict[str, str]] = []
    for each in (day - timedelta(days=1), day):
        result = export.export_day(each, ledger=get_ledger_settings(), bucket=bucket, zone=get_biller_time_zone())
        if result.rows:
            body = boto3.client("s3").get_object(Bucket=bucket, Key=f"exports/{each.isoformat()}.csv")["Body"]
            rows += list(csv.DictReader(io.StringIO(body.read().decode("utf-8"))))
    return rows


def test_the_export_carries_what_was_charged_and_later_billing_files_never_offer_the_credit_twice(
    credit: Stack, advance: Any
) -> None:
    """The export carries the 50.00 Invoice Cloud charged on the bill, never the credit (it is the
    biller's, and the biller posts it); whatever the biller's next files say — the payment not posted
    yet, posted with the credit still open, or both posted — the account owes nothing more, and a new
    bill is not lowered by a credit that was already used."""
    body = started("alice", [("C-1", "I-1")])
    pay(credit, body["paymentId"], "50.00", guid="G-1")
    rows = exported_rows(clock.utc_now().date())
    assert [(r["InvoiceNumber"], r["Amount"], r["Kind"]) for r in rows] == [("I-1", "50.00", "PAYMENT")]

    advance(timedelta(hours=1))
    billing_file(clock.utc_now(), [("I-1", "100.00", "11/20/2026"), ("I-CR", "-50.00", "11/20/2026")])
    assert account("C-1")["totalDue"] == "0.00"  # the payment not posted yet: it still counts

    advance(timedelta(hours=get_ledger_settings().settlement_lag_hours + 1))
    billing_file(clock.utc_now(), [("I-1", "50.00", "11/20/2026"), ("I-CR", "-50.00", "11/20/2026")])
    assert get_invoice("C-1", "I-1").unreflected_cents == 0  # the file shows the payment
    assert (account("C-1")["totalDue"], invoice_view("C-1", "I-1")["payable"]) == ("0.00", "0.00")

    advance(timedelta(hours=1))
    billing_file(clock.utc_now(), [("I-1", "0.00", "11/20/2026")], full=True)
    shown = account("C-1")
    assert shown["totalDue"] == "0.00" and "creditApplied" not in shown  # the biller used the credit

    advance(timedelta(days=30))
    billing_file(clock.utc_now(), [("I-1", "0.00", "11/20/2026"), ("I-2", "70.00", "12/20/2026")], full=True)
    assert (account("C-1")["totalDue"], invoice_view("C-1", "I-2")["payable"]) == ("70.00", "70.00")
