"""The ten ways money could be doubled, misattributed or left stuck (the money-safety issue), each
through the functions as Invoice Cloud and the portal would reach them. Every test here failed
before the rules of DESIGN §6c were revised, and must keep passing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from avocette import clock

from stackdef import caches
from tests.helpers import (
    FakeContext,
    Stack,
    add_account,
    add_invoice,
    approved_fields,
    get_invoice,
    get_payment,
    http_event,
    invoke,
    load_function,
    send_postback,
    start_payment,
    table_items,
)

Advance = Callable[[timedelta], None]


@pytest.fixture
def advance() -> Iterator[Advance]:
    """Move every function's clock forward (the functions and the simulator read avocette.clock)."""

    def move(by: timedelta) -> None:
        clock.set_offset(clock.offset() + by)

    yield move
    clock.set_offset(timedelta())


def payment_item(stack: Stack, payment_id: str) -> dict[str, Any]:
    (item,) = [i for i in table_items(stack, f"PAYMENT#{payment_id}") if i["SK"] == "PAYMENT"]
    return item


def credited(account: str, invoice: str) -> int:
    return sum(credit.cents for credit in get_invoice(account, invoice).credits.values())


def started(sub: str, invoices: list[tuple[str, str]]) -> str:
    answer = start_payment(sub, invoices)
    assert answer.status == 201, answer.body
    return str(answer.json["paymentId"])


def run_expiry() -> dict[str, Any]:
    event = {"version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    answer: dict[str, Any] = load_function("expire_payments").lambda_handler(event, FakeContext())
    return answer


# ---- 1. an invoice paid twice ----------------------------------------------------------------------


def test_1_a_second_payment_of_an_invoice_goes_to_review_not_to_the_invoice(stack: Stack, advance: Advance) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-X", "40.00")
    first = started("alice", [("A-1", "I-X")])
    advance(timedelta(minutes=30 + 15 + 1))  # the session and its grace have passed: the hold is gone
    second = started("alice", [("A-1", "I-X")])

    assert send_postback(stack, second, approved_fields(second, "40.00", guid="G-B")).status == 200
    assert send_postback(stack, first, approved_fields(first, "40.00", guid="G-A")).status == 200

    assert payment_item(stack, second)["status"] == "APPROVED"
    late = payment_item(stack, first)
    assert (late["status"], late["reviewReason"]) == ("NEEDS_REVIEW", "duplicate_payment")
    assert credited("A-1", "I-X") == 4000
    assert [p.payment_id for p in get_invoice("A-1", "I-X").credits.values()] == [second]


# ---- 2. a postback naming an invoice outside the payment --------------------------------------------


def test_2_an_invoice_outside_the_payment_is_never_applied(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    add_invoice("A-1", "I-9", "30.00")
    payment_id = started("alice", [("A-1", "I-1")])

    send_postback(stack, payment_id, approved_fields(payment_id, "30.00", invoice="I-9"))

    item = payment_item(stack, payment_id)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "unknown_invoice")
    assert credited("A-1", "I-1") == 0 and credited("A-1", "I-9") == 0


# ---- 3. the wrong account credited --------------------------------------------------------------------


def test_3a_no_invoice_named_never_guesses_an_account_by_its_total(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_account("A-2", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    add_invoice("A-2", "J-1", "20.00")
    add_invoice("A-2", "J-2", "15.00")
    add_invoice("A-2", "J-3", "10.00")
    payment_id = started("alice", [("A-1", "I-1"), ("A-2", "J-1"), ("A-2", "J-2"), ("A-2", "J-3")])

    # The payer removed I-1 and J-2 and paid J-1 + J-3 = 30.00, exactly A-1's total.
    send_postback(stack, payment_id, approved_fields(payment_id, "30.00", invoice=""))

    item = payment_item(stack, payment_id)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "unallocated_amount")
    assert credited("A-1", "I-1") == 0


def test_3b_a_part_amount_on_a_removed_invoice_that_allows_no_part_payment_is_for_review(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00", allow_partial=False)
    add_invoice("A-1", "I-2", "20.00", allow_partial=False)
    payment_id = started("alice", [("A-1", "I-1"), ("A-1", "I-2")])

    # Removed I-1, paid I-2; Invoice Cloud names the first *requested* invoice.
    send_postback(stack, payment_id, approved_fields(payment_id, "20.00", invoice="I-1"))

    assert payment_item(stack, payment_id)["status"] == "NEEDS_REVIEW"
    assert credited("A-1", "I-1") == 0


# ---- 4. NEEDS_REVIEW can be settled -----------------------------------------------------------------


def test_4_a_payment_under_review_can_be_applied_or_dismissed(stack: Stack) -> None:
    from avocette.service import review

    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    add_invoice("A-1", "I-2", "20.00")
    add_invoice("A-1", "I-3", "10.00")
    flagged = started("alice", [("A-1", "I-1"), ("A-1", "I-2")])
    send_postback(stack, flagged, approved_fields(flagged, "25.00", invoice=""))
    assert payment_item(stack, flagged)["status"] == "NEEDS_REVIEW"
    assert [p.payment_id for p in review.list_reviews()] == [flagged]

    review.apply_review(flagged, {"I-2": 2000}, note="IC support: I-2 paid in full", by="ops@example.com")

    view = get_payment("alice", flagged).json
    assert (view["status"], view["amountPaid"]) == ("APPROVED", "20.00")
    assert credited("A-1", "I-2") == 2000 and credited("A-1", "I-1") == 0
    assert review.list_reviews() == []

    other = started("alice", [("A-1", "I-3")])
    send_postback(stack, other, approved_fields(other, "99.00", invoice="I-3"))
    review.dismiss_review(other, note="refunded at Invoice Cloud", by="ops@example.com")
    closed = get_payment("alice", other).json
    assert (closed["status"], closed["final"]) == ("CLOSED", True)
    assert "refund" in closed["statusMessage"].lower()
    audit = [i for i in table_items(stack, f"PAYMENT#{other}") if str(i["SK"]).startswith("REVIEW#")]
    assert [(a["decision"], a["by"], a["note"]) for a in audit] == [
        ("DISMISS", "ops@example.com", "refunded at Invoice Cloud")
    ]


# ---- 5. abandoned sessions expire -----------------------------------------------------------------


def test_5_an_abandoned_session_expires_and_frees_its_invoices(stack: Stack, advance: Advance) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    payment_id = started("alice", [("A-1", "I-1")])
    run_expiry()
    assert payment_item(stack, payment_id)["status"] == "PENDING"

    advance(timedelta(minutes=30 + 15 + 1))
    run_expiry()

    view = get_payment("alice", payment_id).json
    assert (view["status"], view["final"]) == ("EXPIRED", True)
    assert get_invoice("A-1", "I-1").open_payment_id is None


# ---- 6. a re-sent postback in other formatting ----------------------------------------------------


def test_6_the_same_postback_in_other_formatting_is_a_duplicate(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "10.00")
    payment_id = started("alice", [("A-1", "I-1")])
    send_postback(stack, payment_id, approved_fields(payment_id, "10", ConvenienceFee="1"))
    before = table_items(stack)

    again = send_postback(stack, payment_id, approved_fields(payment_id, "$10.00", ConvenienceFee="1.00"))

    assert again.status == 200
    assert table_items(stack) == before
    assert payment_item(stack, payment_id)["status"] == "APPROVED"


# ---- 7. approvedAt is set once ---------------------------------------------------------------------


def test_7_a_later_postback_does_not_move_an_earlier_credit(stack: Stack, advance: Advance) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "100.00", allow_partial=True)
    payment_id = started("alice", [("A-1", "I-1")])
    send_postback(stack, payment_id, approved_fields(payment_id, "10.00", invoice="I-1", guid="G-1"))
    (first,) = get_invoice("A-1", "I-1").credits.values()

    advance(timedelta(hours=30))
    send_postback(stack, payment_id, approved_fields(payment_id, "20.00", invoice="I-1", guid="G-2"))

    credits = sorted(get_invoice("A-1", "I-1").credits.values(), key=lambda credit: credit.approved_at)
    assert (credits[0].cents, credits[0].approved_at) == (1000, first.approved_at)
    assert sum(c.cents for c in credits) == 3000


# ---- 8. fees and digits that are not money --------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fee"),
    [("10.00", "9" * 60), ("10.00", "-1.00"), ("10.00", "11.00"), ("١٠.٠٠", "1.00"), ("１０.００", "1.00")],
    ids=["sixty-nines-fee", "negative-fee", "fee-above-amount", "arabic-indic-digits", "full-width-digits"],
)
def test_8_unreadable_amounts_are_a_400_recorded_for_review(stack: Stack, amount: str, fee: str) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "10.00")
    payment_id = started("alice", [("A-1", "I-1")])

    answer = send_postback(stack, payment_id, approved_fields(payment_id, amount, ConvenienceFee=fee))

    assert (answer.status, answer.json["error"]) == (400, "invalid_postback")
    item = payment_item(stack, payment_id)
    assert (item["status"], item["reviewReason"]) == ("NEEDS_REVIEW", "invalid_postback")
    assert credited("A-1", "I-1") == 0
    assert "convenienceFee" not in get_payment("alice", payment_id).json


# ---- 9. the payment method from PaymentTypeID, and the authorization kept --------------------------


def test_9_payment_method_comes_from_the_type_id_map_and_the_approval_code_is_kept(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IC_PAYMENT_TYPE_IDS", '{"1": "CARD", "2": "ACH"}')
    caches.reset()
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "10.00")
    add_invoice("A-1", "I-2", "10.00")
    ach = started("alice", [("A-1", "I-1")])
    unknown = started("alice", [("A-1", "I-2")])

    send_postback(
        stack,
        ach,
        approved_fields(ach, "10.00", PaymentTypeID="2", CardType="Checking", PaymentMessage="APPROVED 727634"),
    )
    send_postback(stack, unknown, approved_fields(unknown, "10.00", PaymentTypeID="7", CardType="Visa"))

    view = get_payment("alice", ach).json
    assert (view["paymentMethod"], view["authorization"]) == ("ACH", "APPROVED 727634")
    assert "paymentMethod" not in get_payment("alice", unknown).json


# ---- 10. a credit invoice lowers its account's total --------------------------------------------------


def test_10_an_accounts_total_nets_its_credit_invoices(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "50.00")
    add_invoice("A-1", "I-2", "-20.00")
    add_account("A-2", linked_to=("alice",))
    add_invoice("A-2", "J-1", "-5.00")

    answer = invoke("accounts", http_event("GET", "/accounts", sub="alice"))

    totals = {account["accountNumber"]: account["totalDue"] for account in answer.json["accounts"]}
    assert totals == {"A-1": "30.00", "A-2": "0.00"}
    assert answer.json["totalDue"] == "30.00"
