"""Books that balance: every cent Invoice Cloud moved is credited, reversed or under review, never
silently dropped (the books-balance issue). Each test reproduces one finding through the functions as
Invoice Cloud, the portal and ops would reach them; each failed before its fix."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from avocette import clock
from avocette.service import reconcile, review
from avocette.service.reconcile_report import ReconcileReport
from avocette.service.reconcile_rows import ReconcileRules

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
    session_id_of,
    start_payment,
    table_items,
)

Advance = Callable[[timedelta], None]


@pytest.fixture
def advance() -> Iterator[Advance]:
    def move(by: timedelta) -> None:
        clock.set_offset(clock.offset() + by)

    yield move
    clock.set_offset(timedelta())


def started(sub: str, invoices: list[tuple[str, str]]) -> str:
    answer = start_payment(sub, invoices)
    assert answer.status == 201, answer.body
    return str(answer.json["paymentId"])


def payment_item(stack: Stack, payment_id: str) -> dict[str, Any]:
    (item,) = [i for i in table_items(stack, f"PAYMENT#{payment_id}") if i["SK"] == "PAYMENT"]
    return item


def credited(account: str, invoice: str) -> int:
    return sum(credit.cents for credit in get_invoice(account, invoice).credits.values())


def pay_on_simulator(stack: Stack, payment_id: str, *, deliver: bool = False, **body: Any) -> dict[str, Any]:
    """The payer pays on Invoice Cloud's page; the postbacks it causes are delivered to the postback
    function when ``deliver`` (the simulator's own delivery cannot reach this in-process stack)."""
    stack.simulator.update_config({"dropPostbacks": True})
    payment_url = get_payment("alice", payment_id).json["paymentUrl"]
    answer = requests.post(
        f"{stack.simulator_url}/_sim/sessions/{session_id_of(payment_url)}/complete",
        json={"outcome": "approve", "method": "CARD", **body},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    for record in result["postbacks"] if deliver else ():
        assert send_postback(stack, payment_id, dict(record["fields"])).status == 200
    return result


def reconcile_today(stack: Stack, **body: Any) -> ReconcileReport:
    """Invoice Cloud's payment file of today, written by the simulator and reconciled in-process."""
    written = stack.simulator.write_payment_file(body)
    text = (stack.simulator.payment_file(written["key"]) or b"").decode("utf-8-sig")
    return reconcile.reconcile_file(
        lambda: io.StringIO(text, newline=""), key=written["key"], rules=ReconcileRules.from_environment()
    )


def run_expiry() -> dict[str, Any]:
    event = {"version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    answer: dict[str, Any] = load_function("expire_payments").lambda_handler(event, FakeContext())
    return answer


# ---- 1. a postback dropped because its amount equals money applied elsewhere ---------------------


@pytest.mark.parametrize("other_account", ["A-1", "A-2"], ids=["same-account", "other-account"])
def test_a_per_invoice_postback_is_credited_whatever_the_other_invoices_were_paid(
    stack: Stack, other_account: str
) -> None:
    """One postback per invoice: the second one's amount equals what the first applied (to the
    account, or to the payment). It is new money, never a duplicate of the first."""
    add_account("A-1", linked_to=("alice",))
    add_account("A-2", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    add_invoice(other_account, "J-1", "30.00")
    payment_id = started("alice", [("A-1", "I-1"), (other_account, "J-1")])

    first = send_postback(stack, payment_id, approved_fields(payment_id, "30.00", invoice="I-1", guid="G-1"))
    second = send_postback(
        stack, payment_id, approved_fields(payment_id, "30.00", invoice="J-1", guid="G-1", ConvenienceFee="0.00")
    )

    assert (first.status, second.status) == (200, 200)
    assert (credited("A-1", "I-1"), credited(other_account, "J-1")) == (3000, 3000)
    view = get_payment("alice", payment_id).json
    assert (view["status"], view["amountPaid"]) == ("APPROVED", "60.00")


def test_a_late_postback_that_retells_what_the_file_recovered_is_a_duplicate(stack: Stack) -> None:
    """The converse: the payment file recovered a lost single postback per invoice; when the postback
    arrives after all, it tells the same money again and changes nothing."""
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    add_invoice("A-1", "I-2", "20.00")
    payment_id = started("alice", [("A-1", "I-1"), ("A-1", "I-2")])
    stack.simulator.update_config({"postbackMode": "single"})
    paid = pay_on_simulator(stack, payment_id)
    assert reconcile_today(stack).counts.recovered == 2
    before = table_items(stack)

    (late,) = [record["fields"] for record in paid["postbacks"]]
    assert send_postback(stack, payment_id, dict(late)).status == 200

    assert table_items(stack) == before
    assert (credited("A-1", "I-1"), credited("A-1", "I-2")) == (3000, 2000)


# ---- 2. a second reversal of one kind on one invoice ----------------------------------------------


def test_a_second_part_chargeback_on_one_invoice_is_reversed_too(stack: Stack, advance: Advance) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "40.00")
    payment_id = started("alice", [("A-1", "I-1")])
    pay_on_simulator(stack, payment_id, deliver=True)
    assert credited("A-1", "I-1") == 4000
    chargeback = {"billerReference": payment_id, "kind": "CHARGEBACK", "invoiceNumber": "I-1", "amount": "10.00"}

    first = reconcile_today(stack, reversals=[chargeback])
    advance(timedelta(hours=1))
    second = reconcile_today(stack, reversals=[chargeback])

    assert (first.counts.reversed, second.counts.reversed, second.counts.seen_before) == (1, 1, 1)
    assert credited("A-1", "I-1") == 2000
    view = get_payment("alice", payment_id).json
    assert [(r["kind"], r["amount"]) for r in view["reversals"]] == [("CHARGEBACK", "10.00"), ("CHARGEBACK", "10.00")]


def test_two_identical_reversal_rows_in_one_file_are_two_reversals(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "40.00")
    payment_id = started("alice", [("A-1", "I-1")])
    pay_on_simulator(stack, payment_id, deliver=True)
    void = {"billerReference": payment_id, "kind": "VOID", "invoiceNumber": "I-1", "amount": "5.00"}

    report = reconcile_today(stack, reversals=[void, void])
    again = reconcile_today(stack)  # the same day's file read again lists both once more

    assert (report.counts.reversed, again.counts.reversed, again.counts.seen_before) == (2, 0, 2)
    assert credited("A-1", "I-1") == 3000


# ---- 3. a payment settled by review, then confirmed by the file ------------------------------------


def test_a_payment_settled_by_review_is_matched_not_flagged_again_by_the_file(stack: Stack) -> None:
    """Invoice Cloud's approval arrived unreadable (400, for review); ops applied what Invoice Cloud's
    portal shows; the day's file then lists that very money: matched, and the payment stays APPROVED."""
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    payment_id = started("alice", [("A-1", "I-1")])
    paid = pay_on_simulator(stack, payment_id)
    (fields,) = [dict(record["fields"]) for record in paid["postbacks"]]
    garbled = {**fields, "PaymentAmount": "thirty dollars"}
    assert send_postback(stack, payment_id, garbled).status == 400

    review.apply_review(payment_id, {"I-1": 3000}, note="IC portal: 30.00 on I-1", by="ops@example.com")
    report = reconcile_today(stack)

    assert (report.counts.matched, report.counts.mismatched) == (1, 0)
    view = get_payment("alice", payment_id).json
    assert (view["status"], view["amountPaid"]) == ("APPROVED", "30.00")


# ---- 4. two review decisions close together ------------------------------------------------------


def test_two_review_decisions_in_one_second_keep_both_credits(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "40.00", allow_partial=True)
    payment_id = started("alice", [("A-1", "I-1")])
    # An approval naming an invoice outside the payment: for review.
    send_postback(stack, payment_id, approved_fields(payment_id, "40.00", invoice="I-9", guid="G-1"))
    clock_now = clock.utc_now()
    with pytest.MonkeyPatch.context() as frozen:
        frozen.setattr(clock, "utc_now", lambda: clock_now)
        review.apply_review(payment_id, {"I-1": 1000}, note="first part", by="ops@example.com")
        # Invoice Cloud tells another approval that does not fit: for review again, in the same second.
        send_postback(stack, payment_id, approved_fields(payment_id, "30.00", invoice="I-9", guid="G-2"))
        assert payment_item(stack, payment_id)["status"] == "NEEDS_REVIEW"
        review.apply_review(payment_id, {"I-1": 3000}, note="the rest", by="ops@example.com", payment_guid="G-2")

    invoice = get_invoice("A-1", "I-1")
    assert sorted(credit.cents for credit in invoice.credits.values()) == [1000, 3000]
    assert invoice.unpaid_cents == 0
    assert get_payment("alice", payment_id).json["amountPaid"] == "40.00"
    audits = [i for i in table_items(stack, f"PAYMENT#{payment_id}") if str(i["SK"]).startswith("REVIEW#")]
    assert len(audits) == 2


# ---- 5. an expired session whose postback was lost ------------------------------------------------


def test_an_expired_session_never_tells_the_payer_no_money_was_taken(stack: Stack, advance: Advance) -> None:
    add_account("A-1", linked_to=("alice", "bob"))
    add_invoice("A-1", "I-1", "30.00")
    payment_id = started("alice", [("A-1", "I-1")])
    pay_on_simulator(stack, payment_id)  # charged; the postback is lost

    advance(timedelta(minutes=30 + 15 + 1))
    run_expiry()

    view = get_payment("alice", payment_id).json
    assert view["status"] == "EXPIRED"
    assert "no money was taken" not in view["statusMessage"].lower()
    assert "before paying again" in view["statusMessage"]
    # Before anyone on the account pays that invoice again, the portal is told to warn them.
    for sub in ("alice", "bob"):
        accounts = invoke("accounts", http_event("GET", "/accounts", sub=sub)).json["accounts"]
        (invoice,) = accounts[0]["invoices"]
        assert invoice["lastSessionEndedWithoutResultAt"] == view["completedAt"]  # when the expiry ended it
    advance(timedelta(hours=24, minutes=1))
    (invoice,) = invoke("accounts", http_event("GET", "/accounts", sub="bob")).json["accounts"][0]["invoices"]
    assert "lastSessionEndedWithoutResultAt" not in invoice


# ---- smaller findings -----------------------------------------------------------------------------


def test_a_household_member_who_keeps_abandoning_sessions_cannot_block_the_others(
    stack: Stack, advance: Advance
) -> None:
    """Each abandoned session holds the bill from everyone on the account until it expires; after
    three in a day, that user starts no more that day, and the others can pay."""
    add_account("A-1", linked_to=("alice", "bob"))
    add_invoice("A-1", "I-1", "30.00")
    advance(timedelta(hours=24 - clock.utc_now().hour))  # early in a (UTC) day, so the day does not turn
    for _ in range(3):
        started("alice", [("A-1", "I-1")])
        assert start_payment("bob", [("A-1", "I-1")]).status == 409
        advance(timedelta(minutes=30 + 15 + 1))
        run_expiry()

    refused = start_payment("alice", [("A-1", "I-1")])

    assert (refused.status, refused.json["error"]) == (429, "too_many_attempts")
    assert refused.json["details"]["retryAt"].endswith("T00:00:00Z")
    assert start_payment("bob", [("A-1", "I-1")]).status == 201


@pytest.mark.parametrize("how", ["part-payment", "invoice-removed"])
def test_what_remains_after_an_approval_can_be_paid_once_its_postbacks_had_time(
    stack: Stack, advance: Advance, how: str
) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00", allow_partial=True)
    add_invoice("A-1", "I-2", "20.00")
    payment_id = started("alice", [("A-1", "I-1"), ("A-1", "I-2")])
    stack.simulator.update_config({"postbackMode": "perInvoice"})
    body = {"amounts": {"I-1": "10.00"}} if how == "part-payment" else {"removeInvoices": ["I-1"]}
    pay_on_simulator(stack, payment_id, deliver=True, **body)
    assert get_payment("alice", payment_id).json["status"] == "APPROVED"

    # Held a few minutes more, for Invoice Cloud's other postbacks of that payment...
    assert start_payment("alice", [("A-1", "I-1")]).status == 409
    advance(timedelta(minutes=5, seconds=1))
    # ...then what remains is payable, long before the first session would have ended.
    again = start_payment("alice", [("A-1", "I-1")])
    assert again.status == 201, again.body
    assert again.json["amountDue"] == ("20.00" if how == "part-payment" else "30.00")


def test_a_decline_that_changes_nothing_costs_no_write_on_the_payment(stack: Stack) -> None:
    from tests.helpers import declined_fields

    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    payment_id = started("alice", [("A-1", "I-1")])
    send_postback(stack, payment_id, declined_fields(payment_id, "30.00", guid="D-1"))
    before = payment_item(stack, payment_id)
    assert before["status"] == "DECLINED"

    assert send_postback(stack, payment_id, declined_fields(payment_id, "30.00", guid="D-2")).status == 200

    assert payment_item(stack, payment_id) == before  # not even its version moved
    postbacks = [i for i in table_items(stack, f"PAYMENT#{payment_id}") if str(i["SK"]).startswith("POSTBACK#")]
    assert sorted(p["fields"]["PaymentGUID"] for p in postbacks) == ["D-1", "D-2"]


# ---- what reviews can now settle ----------------------------------------------------------------


def test_a_review_takes_back_what_the_rules_put_on_an_invoice_invoice_cloud_did_not_charge(stack: Stack) -> None:
    """One postback for the payment, naming its first invoice: the payer paid 10.00 of I-1 and all of
    I-2, and the rules put the 30.00 on I-1. The payment file shows where Invoice Cloud charged it;
    a person moves the money; the next file matches."""
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00", allow_partial=True)
    add_invoice("A-1", "I-2", "20.00")
    payment_id = started("alice", [("A-1", "I-1"), ("A-1", "I-2")])
    stack.simulator.update_config({"postbackMode": "single", "invoiceNumberWhenSeveral": "first"})
    paid = pay_on_simulator(stack, payment_id, deliver=True, amounts={"I-1": "10.00"})
    assert (credited("A-1", "I-1"), credited("A-1", "I-2")) == (3000, 0)  # the rules' guess

    assert reconcile_today(stack).counts.mismatched >= 1
    assert payment_item(stack, payment_id)["status"] == "NEEDS_REVIEW"
    guid = paid["attempt"]["paymentGuid"]
    review.apply_review(
        payment_id,
        {"I-1": -2000, "I-2": 2000},
        note="IC portal: 10.00 on I-1, 20.00 on I-2",
        by="ops",
        payment_guid=guid,
    )

    assert (credited("A-1", "I-1"), credited("A-1", "I-2")) == (1000, 2000)
    again = reconcile_today(stack)
    assert (again.counts.matched, again.counts.mismatched) == (2, 0)
    view = get_payment("alice", payment_id).json
    assert (view["status"], view["amountPaid"]) == ("APPROVED", "30.00")
    assert [(line["invoiceNumber"], line["amountPaid"]) for line in view["invoices"]] == [
        ("I-1", "10.00"),
        ("I-2", "20.00"),
    ]
    kinds = sorted(c.kind for c in get_invoice("A-1", "I-1").credits.values())
    assert kinds == ["CORRECTION", "PAYMENT"]


def test_a_chargeback_that_arrives_while_a_person_looks_comes_off_when_they_decide(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "40.00")
    payment_id = started("alice", [("A-1", "I-1")])
    paid = pay_on_simulator(stack, payment_id, deliver=True)
    (fields,) = [dict(record["fields"]) for record in paid["postbacks"]]
    # The same approval told again with another amount: a person must look.
    send_postback(stack, payment_id, {**fields, "PaymentAmount": "41.00"})
    assert payment_item(stack, payment_id)["status"] == "NEEDS_REVIEW"
    chargeback = {"billerReference": payment_id, "kind": "CHARGEBACK", "invoiceNumber": "I-1", "amount": "15.00"}
    assert reconcile_today(stack, reversals=[chargeback]).counts.reversals_recorded == 1
    assert credited("A-1", "I-1") == 4000  # recorded only, while the payment waits

    review.apply_review(payment_id, {}, note="IC portal: 40.00 as applied", by="ops")

    assert credited("A-1", "I-1") == 2500
    view = get_payment("alice", payment_id).json
    assert (view["status"], view["amountPaid"]) == ("APPROVED", "25.00")
    assert [(r["kind"], r["amount"]) for r in view["reversals"]] == [("CHARGEBACK", "15.00")]


# ---- a won chargeback, then more taken back: whatever order the day's file lists them -------------


def test_a_refund_after_a_won_chargeback_takes_its_money_whatever_the_files_order(stack: Stack) -> None:
    """Charged back in full (the payment stands REVERSED), then the biller wins the dispute and refunds
    the payer at once: the day's file lists the refund before the chargeback reversal. The refund,
    recorded only while the payment stood reversed, takes its money once the reversal gives it back:
    Invoice Cloud took back 40.00 net, and so do we (found by the soak)."""
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "40.00")
    payment_id = started("alice", [("A-1", "I-1")])
    pay_on_simulator(stack, payment_id, deliver=True)
    slot = {"billerReference": payment_id, "invoiceNumber": "I-1"}
    reconcile_today(stack, reversals=[{**slot, "kind": "CHARGEBACK"}])
    assert (payment_item(stack, payment_id)["status"], credited("A-1", "I-1")) == ("REVERSED", 0)

    written = stack.simulator.write_payment_file(
        {"reversals": [{**slot, "kind": "CHARGEBACK_REVERSAL"}, {**slot, "kind": "REFUND"}]}
    )
    listed = (stack.simulator.payment_file(written["key"]) or b"").decode("utf-8-sig")
    kinds = [line.split(",", 1)[0] for line in listed.splitlines()]
    assert kinds.index("REFUND") < kinds.index("CHARGEBACK_REVERSAL")  # the order this test is about
    report = reconcile.reconcile_file(
        lambda: io.StringIO(listed, newline=""), key=written["key"], rules=ReconcileRules.from_environment()
    )

    assert report.counts.reversed + report.counts.reversals_recorded == 2
    view = get_payment("alice", payment_id).json
    assert sorted(r["kind"] for r in view["reversals"]) == ["CHARGEBACK", "CHARGEBACK_REVERSAL", "REFUND"]
    assert (view["status"], credited("A-1", "I-1")) == ("REVERSED", 0)


def test_a_dispute_won_then_refunded_while_a_person_looks_is_taken_back_when_they_decide(stack: Stack) -> None:
    """While the payment waits for a person, Invoice Cloud charges it back, the biller wins the dispute,
    then the payer is refunded. The three are recorded only; when the person decides, they
    are replayed, and however the rewritten day's file numbered them, the refund takes its money:
    40.00 charged, 40.00 taken back, nothing credited (found by the model)."""
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "40.00")
    payment_id = started("alice", [("A-1", "I-1")])
    paid = pay_on_simulator(stack, payment_id, deliver=True)
    (fields,) = [dict(record["fields"]) for record in paid["postbacks"]]
    send_postback(stack, payment_id, {**fields, "PaymentAmount": "41.00"})  # a person must look
    assert payment_item(stack, payment_id)["status"] == "NEEDS_REVIEW"
    slot = {"billerReference": payment_id, "invoiceNumber": "I-1"}
    for kind in ("CHARGEBACK", "CHARGEBACK_REVERSAL", "REFUND"):
        assert reconcile_today(stack, reversals=[{**slot, "kind": kind}]).counts.reversals_recorded == 1

    review.apply_review(payment_id, {}, note="IC portal: 40.00 as applied", by="ops")

    view = get_payment("alice", payment_id).json
    assert sorted(r["kind"] for r in view["reversals"]) == ["CHARGEBACK", "CHARGEBACK_REVERSAL", "REFUND"]
    assert (view["status"], credited("A-1", "I-1")) == ("REVERSED", 0)
