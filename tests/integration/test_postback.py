"""POST /postback/{paymentId}/{token}: token first, recorded exactly once, reconciled, life cycle of §6c."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from tests.helpers import (
    Stack,
    add_account,
    add_invoice,
    approved_fields,
    declined_fields,
    get_invoice,
    get_payment,
    postback_token,
    send_postback,
    start_payment,
    table_items,
)


@pytest.fixture
def two_invoices(stack: Stack) -> str:
    """alice's PENDING payment of I-1 (30.00) and I-2 (20.00) on account A-1; its id."""
    add_account("A-1", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    add_invoice("A-1", "I-2", "20.00")
    answer = start_payment("alice", [("A-1", "I-1"), ("A-1", "I-2")])
    assert answer.status == 201, answer.body
    return str(answer.json["paymentId"])


@pytest.fixture
def one_invoice(stack: Stack) -> str:
    add_account("A-1", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-1", "I-1", "50.00")
    return str(start_payment("alice", [("A-1", "I-1")]).json["paymentId"])


def payment_item(stack: Stack, payment_id: str) -> dict[str, Any]:
    (item,) = [i for i in table_items(stack, f"PAYMENT#{payment_id}") if i["SK"] == "PAYMENT"]
    return item


def postback_items(stack: Stack, payment_id: str) -> list[dict[str, Any]]:
    return [i for i in table_items(stack, f"PAYMENT#{payment_id}") if str(i["SK"]).startswith("POSTBACK#")]


def status_of(stack: Stack, payment_id: str) -> str:
    return str(payment_item(stack, payment_id)["status"])


# ---- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", [None, "", "v2.AAAA", "v9.abc", "not-a-token"], ids=["missing", "empty", "wrong", "unknown-key", "garbage"]
)
def test_missing_or_wrong_token_is_403_and_writes_nothing(stack: Stack, one_invoice: str, token: str | None) -> None:
    before = table_items(stack)
    answer = send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"), token=token)
    assert (answer.status, answer.json["error"]) == (403, "invalid_token")
    assert table_items(stack) == before


def test_token_of_another_payment_is_403(stack: Stack, one_invoice: str) -> None:
    answer = send_postback(
        stack, one_invoice, approved_fields(one_invoice, "50.00"), token=postback_token(stack, "other")
    )
    assert answer.status == 403
    assert status_of(stack, one_invoice) == "PENDING"


def test_token_made_with_an_older_key_still_verifies(stack: Stack, one_invoice: str) -> None:
    answer = send_postback(
        stack, one_invoice, approved_fields(one_invoice, "50.00"), token=postback_token(stack, one_invoice, "1")
    )
    assert answer.status == 200


def test_source_outside_the_allowed_cidrs_is_403(
    stack: Stack, one_invoice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackdef import caches

    monkeypatch.setenv("POSTBACK_SOURCE_CIDRS", "203.0.113.0/24")
    caches.reset()
    before = table_items(stack)
    assert (
        send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"), source_ip="198.51.100.7").status == 403
    )
    assert table_items(stack) == before
    assert (
        send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"), source_ip="203.0.113.20").status == 200
    )


def test_valid_token_for_a_missing_payment_is_404(stack: Stack) -> None:
    answer = send_postback(stack, "no-such-payment", approved_fields("no-such-payment", "1.00"))
    assert (answer.status, answer.json["error"]) == (404, "payment_not_found")


# ---- applying ----------------------------------------------------------------------------------------


def test_approved_postback_applies_credits_and_completes_the_payment(stack: Stack, two_invoices: str) -> None:
    answer = send_postback(stack, two_invoices, approved_fields(two_invoices, "50.00"))
    assert (answer.status, answer.body) == (200, "OK")

    item = payment_item(stack, two_invoices)
    assert item["status"] == "APPROVED" and item["version"] == 2
    assert [line["paidCents"] for line in item["lines"]] == [3000, 2000]
    assert item["icPaymentIds"] == ["G-1"] and item["convenienceFeeCents"] == 100
    assert item["GSI2PK"].startswith("DAY#") and item["completedAt"]
    for number, cents in (("I-1", 3000), ("I-2", 2000)):
        invoice = get_invoice("A-1", number)
        assert invoice.credited_cents(two_invoices) == cents
        assert invoice.payable_cents() == 0
        assert invoice.open_payment_id is None

    view = get_payment("alice", two_invoices).json
    assert view["status"] == "APPROVED" and view["final"] is True
    assert (view["amountPaid"], view["convenienceFee"], view["paymentMethod"], view["cardType"]) == (
        "50.00",
        "1.00",
        "CARD",
        "Visa",
    )
    assert view["invoiceCloudPaymentIds"] == ["G-1"]
    assert "approved" in view["statusMessage"]


def test_only_the_kept_fields_are_stored(stack: Stack, one_invoice: str) -> None:
    send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00", Unexpected="secret-ish"))
    (record,) = postback_items(stack, one_invoice)
    assert set(record["fields"]) <= {
        "PaymentGUID", "InvoiceNumber", "Approved", "PaymentAmount", "ConvenienceFee", "PaymentTypeID",
        "CardType", "PaymentDate", "BillerGUID", "BillerReference",
    }  # fmt: skip
    stored = repr(table_items(stack))
    assert "Alice Anders" not in repr(record) and "12 Orchard Lane" not in stored and "203.0.113.9" not in stored
    assert "secret-ish" not in stored
    assert record["outcome"] == "APPLIED" and len(record["digest"]) == 64


def test_query_string_only_postback_is_accepted(stack: Stack, one_invoice: str) -> None:
    answer = send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"), in_query=True)
    assert answer.status == 200
    assert status_of(stack, one_invoice) == "APPROVED"


def test_duplicate_changes_nothing(stack: Stack, one_invoice: str) -> None:
    fields = approved_fields(one_invoice, "50.00")
    send_postback(stack, one_invoice, fields)
    before = table_items(stack)
    again = send_postback(stack, one_invoice, fields)
    assert (again.status, again.body) == (200, "OK")
    assert table_items(stack) == before


def deliver_concurrently(stack: Stack, payment_id: str, deliveries: list[dict[str, str]], *, racers: int) -> list[str]:
    """Deliver postbacks from ``racers`` threads at once, straight to the postback logic (as separate
    Lambda environments would; in one process, Powertools' resolvers share the current event, so
    the handler itself cannot be run from several threads). The first ``racers`` deliveries all read
    the payment before any of them writes, so they race for the same transition."""
    from avocette.service import postbacks as postback_service
    from avocette.store import payments as payments_store

    everyone_read = threading.Barrier(racers, timeout=30)
    reads = itertools.count()
    original_read = payments_store.get_payment_with_postbacks

    def read_then_wait(read_payment_id: str) -> Any:
        result = original_read(read_payment_id)
        if next(reads) < racers:
            everyone_read.wait()
        return result

    token = postback_token(stack, payment_id)

    def deliver(fields: dict[str, str]) -> str:
        return postback_service.receive_postback(
            rules=postback_service.PostbackRules.from_environment(),
            payment_id=payment_id,
            token=token,
            source_ip=None,
            body=urlencode(fields).encode(),
            query={},
        ).outcome

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(payments_store, "get_payment_with_postbacks", read_then_wait)
        with ThreadPoolExecutor(max_workers=racers) as pool:
            return list(pool.map(deliver, deliveries))


def test_fifty_concurrent_deliveries_make_one_transition(stack: Stack, two_invoices: str) -> None:
    outcomes = deliver_concurrently(stack, two_invoices, [approved_fields(two_invoices, "50.00")] * 50, racers=8)

    assert sorted(outcomes) == ["APPLIED"] + ["DUPLICATE"] * 49
    item = payment_item(stack, two_invoices)
    assert item["status"] == "APPROVED" and item["version"] == 2
    assert [line["paidCents"] for line in item["lines"]] == [3000, 2000]
    assert len(postback_items(stack, two_invoices)) == 1
    assert get_invoice("A-1", "I-1").credited_cents(two_invoices) == 3000
    assert get_invoice("A-1", "I-2").credited_cents(two_invoices) == 2000


def test_per_invoice_postbacks_racing_each_other_both_apply(stack: Stack, two_invoices: str) -> None:
    """Two different postbacks read the same version; the payment's version condition makes the
    loser read again and add its invoice instead of overwriting the winner's."""
    deliveries = [
        approved_fields(two_invoices, "30.00", invoice="I-1", guid="G"),
        approved_fields(two_invoices, "20.00", invoice="I-2", guid="G"),
    ]
    outcomes = deliver_concurrently(stack, two_invoices, deliveries, racers=2)

    assert outcomes == ["APPLIED", "APPLIED"]
    item = payment_item(stack, two_invoices)
    assert [line["paidCents"] for line in item["lines"]] == [3000, 2000]
    assert item["status"] == "APPROVED" and item["version"] == 3
    assert len(postback_items(stack, two_invoices)) == 2


def test_decline_then_approve_ends_approved(stack: Stack, one_invoice: str) -> None:
    send_postback(stack, one_invoice, declined_fields(one_invoice, "50.00"))
    assert status_of(stack, one_invoice) == "DECLINED"
    view = get_payment("alice", one_invoice).json
    assert view["final"] is False and "try again" in view["statusMessage"]
    send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"))
    assert status_of(stack, one_invoice) == "APPROVED"


def test_approve_then_decline_stays_approved(stack: Stack, one_invoice: str) -> None:
    send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"))
    answer = send_postback(stack, one_invoice, declined_fields(one_invoice, "50.00"))
    assert answer.status == 200
    assert status_of(stack, one_invoice) == "APPROVED"
    assert get_invoice("A-1", "I-1").credited_cents(one_invoice) == 5000


def test_same_guid_reused_for_decline_and_approval(stack: Stack, one_invoice: str) -> None:
    send_postback(stack, one_invoice, declined_fields(one_invoice, "50.00", guid="SAME"))
    send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00", guid="SAME"))
    assert status_of(stack, one_invoice) == "APPROVED"
    assert len(postback_items(stack, one_invoice)) == 2


def test_amount_above_what_was_due_needs_review_with_no_money(stack: Stack, one_invoice: str) -> None:
    answer = send_postback(stack, one_invoice, approved_fields(one_invoice, "75.00"))
    assert answer.status == 200
    item = payment_item(stack, one_invoice)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "amount_exceeds_due")
    assert get_invoice("A-1", "I-1").credits == {}
    view = get_payment("alice", one_invoice).json
    assert view["final"] is True and "amount_exceeds_due" not in view["statusMessage"]


def test_unnamed_partial_on_two_invoices_is_unallocated(stack: Stack, two_invoices: str) -> None:
    send_postback(stack, two_invoices, approved_fields(two_invoices, "25.00", invoice=""))
    item = payment_item(stack, two_invoices)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "unallocated_amount")
    assert get_invoice("A-1", "I-1").credits == {} and get_invoice("A-1", "I-2").credits == {}


def test_per_invoice_postbacks_pay_each_invoice(stack: Stack, two_invoices: str) -> None:
    send_postback(stack, two_invoices, approved_fields(two_invoices, "20.00", invoice="I-2", guid="G"))
    first = payment_item(stack, two_invoices)
    assert first["status"] == "APPROVED" and [line["paidCents"] for line in first["lines"]] == [0, 2000]
    assert get_invoice("A-1", "I-2").open_payment_id is None
    assert get_invoice("A-1", "I-1").open_payment_id == two_invoices  # still held: its postback may follow
    send_postback(stack, two_invoices, approved_fields(two_invoices, "30.00", invoice="I-1", guid="G"))
    item = payment_item(stack, two_invoices)
    assert [line["paidCents"] for line in item["lines"]] == [3000, 2000] and item["status"] == "APPROVED"
    assert get_invoice("A-1", "I-1").open_payment_id is None


def test_conflicting_postback_needs_review(stack: Stack, one_invoice: str) -> None:
    send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"))
    answer = send_postback(stack, one_invoice, approved_fields(one_invoice, "49.00"))
    assert answer.status == 200
    item = payment_item(stack, one_invoice)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "conflicting_postback")
    assert len(postback_items(stack, one_invoice)) == 2
    assert get_invoice("A-1", "I-1").credited_cents(one_invoice) == 5000
    before = table_items(stack)
    assert send_postback(stack, one_invoice, approved_fields(one_invoice, "49.00")).status == 200
    assert table_items(stack) == before


@pytest.mark.parametrize(
    "fields",
    [
        {"Approved": "True", "PaymentAmount": "50.00"},
        {"PaymentGUID": "G-1", "PaymentAmount": "50.00"},
        {"PaymentGUID": "G-1", "Approved": "True", "PaymentAmount": "fifty"},
    ],
    ids=["no-guid", "no-approved", "amount-unreadable"],
)
def test_invalid_postback_is_400_and_recorded_for_review(
    stack: Stack, one_invoice: str, fields: dict[str, str]
) -> None:
    answer = send_postback(stack, one_invoice, fields)
    assert (answer.status, answer.json["error"]) == (400, "invalid_postback")
    (record,) = postback_items(stack, one_invoice)
    assert record["outcome"] == "INVALID"
    item = payment_item(stack, one_invoice)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "invalid_postback")
    assert send_postback(stack, one_invoice, fields).status == 400
    assert len(postback_items(stack, one_invoice)) == 1


@pytest.mark.parametrize(
    "guid",
    ["G-1\x00", "G-1\r\nX-Injected: 1", '=HYPERLINK("http://x", "y")', "G" * 65],
    ids=["nul", "crlf", "space", "65-characters"],
)
def test_a_payment_guid_that_is_not_printable_ascii_is_400_and_recorded_for_review(
    stack: Stack, one_invoice: str, guid: str
) -> None:
    answer = send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00", guid=guid))
    assert (answer.status, answer.json["error"]) == (400, "invalid_postback")
    (record,) = postback_items(stack, one_invoice)
    assert record["outcome"] == "INVALID" and record["read"]["problem"] == "invalid_payment_guid"
    assert record["read"]["paymentGuid"] == ""  # never read: the fields as received keep it for people
    item = payment_item(stack, one_invoice)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "invalid_postback")
    assert get_invoice("A-1", "I-1").credited_cents(one_invoice) == 0


def test_needs_review_is_sticky_but_records_what_comes(stack: Stack, one_invoice: str) -> None:
    send_postback(stack, one_invoice, approved_fields(one_invoice, "75.00", guid="G-A"))
    send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00", guid="G-B"))
    assert status_of(stack, one_invoice) == "NEEDS_REVIEW"
    assert get_invoice("A-1", "I-1").credits == {}
    assert {r["outcome"] for r in postback_items(stack, one_invoice)} == {"REVIEW", "RECORDED"}


def test_storage_failure_is_503_and_leaves_no_half_written_state(
    stack: Stack, one_invoice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from avocette.store import table

    client = table.dynamodb()
    original = client.transact_write_items

    def throttled(**kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "TransactWriteItems"
        )

    monkeypatch.setattr(client, "transact_write_items", throttled)
    before = table_items(stack)
    answer = send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00"))
    assert (answer.status, answer.json["error"]) == (503, "service_unavailable")
    assert table_items(stack) == before
    monkeypatch.setattr(client, "transact_write_items", original)
    assert send_postback(stack, one_invoice, approved_fields(one_invoice, "50.00")).status == 200


def test_late_approval_of_a_failed_payment_is_applied(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "50.00")
    stack.simulator.update_config({"apiFault": "503", "apiFaultCount": 1})
    assert start_payment("alice", [("A-1", "I-1")]).status == 502
    (item,) = [i for i in table_items(stack, "PAYMENT#") if i["SK"] == "PAYMENT"]
    payment_id = item["paymentId"]
    assert send_postback(stack, payment_id, approved_fields(payment_id, "50.00")).status == 200
    assert status_of(stack, payment_id) == "APPROVED"


def test_a_first_postback_costs_one_query_and_one_transaction_a_duplicate_one_query(
    stack: Stack, one_invoice: str
) -> None:
    from avocette.store import table

    calls: list[str] = []
    client = table.dynamodb()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    fields = approved_fields(one_invoice, "50.00")

    send_postback(stack, one_invoice, fields)
    first, calls[:] = list(calls), []
    send_postback(stack, one_invoice, fields)

    assert first == ["Query", "TransactWriteItems"]
    assert calls == ["Query"]


def test_a_cross_payment_refusal_costs_one_more_transaction_and_no_more_reads(stack: Stack) -> None:
    """Another payment paid the invoice meanwhile: the invoice's own condition refuses the credit
    inside the postback's transaction, and the postback is recorded for review in one more."""
    from avocette.store import table

    add_account("A-1", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-1", "I-1", "50.00")
    first = str(start_payment("alice", [("A-1", "I-1")]).json["paymentId"])
    billing = get_invoice("A-1", "I-1")
    # The hold lapsed and a second payment of the same invoice was approved (as Invoice Cloud's
    # page may outlive our session): the invoice has nothing unpaid left.
    from avocette.store import billing as billing_store

    billing_store.put_invoice(replace(billing, open_payment_id=None, open_until=None))
    second = str(start_payment("alice", [("A-1", "I-1")]).json["paymentId"])
    assert send_postback(stack, second, approved_fields(second, "50.00", guid="G-2")).status == 200

    calls: list[str] = []
    client = table.dynamodb()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    answer = send_postback(stack, first, approved_fields(first, "50.00", guid="G-1"))

    assert answer.status == 200
    assert calls == ["Query", "TransactWriteItems", "TransactWriteItems"]
    item = payment_item(stack, first)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "duplicate_payment")
    assert [c.payment_id for c in get_invoice("A-1", "I-1").credits.values()] == [second]
