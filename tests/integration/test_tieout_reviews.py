"""The tie-out of payments a person settles, on moto (DESIGN §6f): money under review is accounted for
until the decision, which credits it on the day Invoice Cloud charged it; a payment a person closed
(refunded at Invoice Cloud) balances on the day of the charge and on the day of the refund."""

from __future__ import annotations

from datetime import date

import boto3
from avocette.service import review
from avocette.service.reconcile import reconcile_s3_object
from avocette.service.reconcile_rows import ReconcileRules
from avocette.service.tieout import TieOutRules, tie_out_day

from tests.helpers import Stack, add_account, add_invoice, approved_fields, get_payment, send_postback, start_payment

HEADER = (
    "TransactionType,PaymentGUID,BillerReference,AccountNumber,InvoiceNumber,Amount,ConvenienceFee,TransactionDate\r\n"
)
# approved_fields' PaymentDate, 11/25/2026 07:15:02 PM Eastern: the evening of the 25th in the biller's zone.
CHARGED_AT = "2026-11-26T00:15:02Z"
THE_25TH, THE_27TH = date(2026, 11, 25), date(2026, 11, 27)


def invoice_cloud_file(stack: Stack, day: str, rows: str) -> None:
    key = f"invoicecloud/{day}.csv"
    boto3.client("s3").put_object(Bucket=stack.names.inbound_bucket, Key=key, Body=(HEADER + rows).encode())
    report = reconcile_s3_object(stack.names.inbound_bucket, key, rules=ReconcileRules.from_environment())
    assert report.status.value == "IMPORTED" and not report.bad_rows, report.summary()


def test_money_under_review_is_accounted_for_until_the_decision_credits_it_on_its_own_day(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "50.00")
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    wrong_biller = approved_fields(payment_id, "50.00", BillerGUID="00000000-0000-0000-0000-000000000000")
    assert send_postback(stack, payment_id, wrong_biller).status == 200
    assert get_payment("alice", payment_id).json["status"] == "NEEDS_REVIEW"
    invoice_cloud_file(stack, "2026-11-26", f"PAYMENT,G-1,{payment_id},A-1,I-1,50.00,1.00,{CHARGED_AT}\r\n")

    waiting = tie_out_day(THE_25TH, TieOutRules.from_environment())
    assert waiting.ties_out, waiting.differences
    assert [(item.reason, item.payment_id, item.cents, item.fee_cents) for item in waiting.explained] == [
        ("under_review", payment_id, 5000, 100)
    ]

    review.apply_review(payment_id, {"I-1": 5000}, note="the biller's GUID was a test value", by="ops")
    settled = tie_out_day(THE_25TH, TieOutRules.from_environment())
    assert settled.ties_out and not settled.explained, settled.differences
    shown = settled.as_dict()
    assert shown["ledger"]["payments"]["amount"] == shown["invoiceCloud"]["payments"]["amount"] == "50.00"
    assert shown["ledger"]["fees"] == "1.00"
    # Decided today, dated by Invoice Cloud's charge: timing, in today's export.
    assert [(item["paymentId"], item["amount"]) for item in shown["timing"]] == [(payment_id, "50.00")]


def test_a_payment_closed_by_a_person_balances_on_the_day_of_its_charge_and_of_its_refund(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "50.00")
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    assert send_postback(stack, payment_id, approved_fields(payment_id, "50.00", invoice="I-1")).status == 200
    # The same postback again, saying another amount: the payment waits for a person, credited.
    again = approved_fields(payment_id, "45.00", invoice="I-1")
    assert send_postback(stack, payment_id, again).status == 200
    assert get_payment("alice", payment_id).json["status"] == "NEEDS_REVIEW"
    invoice_cloud_file(stack, "2026-11-26", f"PAYMENT,G-1,{payment_id},A-1,I-1,50.00,1.00,{CHARGED_AT}\r\n")
    review.dismiss_review(payment_id, note="refunded at Invoice Cloud", by="ops")
    assert get_payment("alice", payment_id).json["status"] == "CLOSED"
    invoice_cloud_file(stack, "2026-11-27", f"REFUND,G-1,{payment_id},A-1,I-1,50.00,,2026-11-27T15:00:00Z\r\n")

    charged = tie_out_day(THE_25TH, TieOutRules.from_environment())
    assert charged.ties_out, charged.differences
    # Our credit and the dismissal's correction net to nothing on the day of the charge.
    assert charged.as_dict()["ledger"]["net"] == "0.00"
    assert [(item.reason, item.cents) for item in charged.explained] == [("closed", 5000)]
    refunded = tie_out_day(THE_27TH, TieOutRules.from_environment())
    assert refunded.ties_out, refunded.differences
    assert [(item.reason, item.cents) for item in refunded.explained] == [("closed", -5000)]
