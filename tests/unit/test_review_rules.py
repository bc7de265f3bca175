"""The rules of a review decision (DESIGN §6c *Review*, ``avocette.domain.review``), without AWS:
naming an invoice, which Invoice Cloud payment id a decision settles, the cap of what Invoice Cloud
reported, an allocation with its corrections, closing, and what the rules would make of each
approval waiting for a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from avocette.domain.billing import Credit, Invoice, InvoiceRef
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.domain.postbacks import (
    Outcome,
    PostbackCredit,
    PostbackValues,
    ReceivedPostback,
    RecordedPostback,
    ReviewReason,
    Source,
)
from avocette.domain.reconciliation import ReversalCredit
from avocette.domain.review import (
    Candidate,
    ReviewRefusedError,
    apply_allocation,
    candidates,
    corrections,
    dismiss,
    known_payment_guids,
    latest_approval,
    line_index,
    money_by_guid,
    paid_lines,
    reported_cents,
    review_credits,
    settled_guid,
)

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
S = PaymentStatus
TWO = [("A", "I-1", 3000, 0), ("A", "I-2", 2000, 0)]


def payment(
    lines: list[tuple[str, str, int, int]] | None = None,
    status: PaymentStatus = S.NEEDS_REVIEW,
    *,
    partial: bool | None = None,
    **extra: object,
) -> Payment:
    """Payment pay-1 of (account, invoice, due cents, paid cents) lines, under review by default."""
    return Payment(
        payment_id="pay-1",
        sub="alice",
        status=status,
        lines=tuple(
            PaymentLine(account_number=a, invoice_number=i, due_cents=due, paid_cents=paid, allow_partial=partial)
            for a, i, due, paid in (lines or TWO)
        ),
        created_at=NOW - timedelta(hours=1),
        session_expires_at=NOW - timedelta(minutes=30),
        **extra,  # type: ignore[arg-type]
    )


def postback(
    amount: int | None = 5000,
    *,
    guid: str = "G-1",
    invoice: str = "",
    fee: int | None = None,
    approved: bool | None = True,
    problem: str | None = None,
    method: str | None = None,
    card_type: str = "",
    authorization: str = "",
) -> ReceivedPostback:
    """A postback as read: its identity is its payment id, invoice and approval (unreadable: its own)."""
    values = PostbackValues(
        approved=approved,
        invoice_number=invoice,
        amount_cents=amount,
        fee_cents=fee,
        payment_type_id="",
        biller_reference="",
        biller_guid="",
    )
    identity = f"invalid-{guid}-{invoice}-{amount}" if problem else f"{guid}|{invoice}|{approved}"
    return ReceivedPostback(
        identity=identity,
        payment_guid=guid,
        values=values,
        credit_cents=amount,
        payment_method=method,  # type: ignore[arg-type]
        card_type=card_type,
        authorization=authorization,
        payment_date="",
        problem=problem,
    )


def record(
    pb: ReceivedPostback,
    minutes: int = 0,
    *,
    key: str | None = None,
    source: Source = "postback",
    outcome: Outcome = Outcome.REVIEW,
) -> RecordedPostback:
    """``pb`` as recorded ``minutes`` after the payment's start, under its identity unless ``key``."""
    return RecordedPostback(
        key=key or pb.identity,
        postback=pb,
        outcome=outcome,
        reason=None,
        received_at=NOW - timedelta(hours=1) + timedelta(minutes=minutes),
        source=source,
    )


def by_key(*records: RecordedPostback) -> dict[str, RecordedPostback]:
    return {r.key: r for r in records}


def refusal(call: object) -> str:
    """The words a refused decision gives the person at the terminal."""
    assert callable(call)
    with pytest.raises(ReviewRefusedError) as refused:
        call()
    return str(refused.value)


# ---- naming an invoice --------------------------------------------------------------------------------


def test_an_invoice_is_named_by_its_number_alone_when_the_payment_holds_it_once() -> None:
    assert line_index(payment(), "I-2") == 1
    assert line_index(payment(), "I-1") == 0


def test_a_number_two_accounts_share_needs_its_account() -> None:
    p = payment([("A", "INV-1", 1000, 0), ("B", "INV-1", 2000, 0)])
    assert line_index(p, "B/INV-1") == 1
    assert line_index(p, "A/INV-1") == 0
    assert refusal(lambda: line_index(p, "INV-1")) == "INV-1 names several invoices of the payment: write ACCOUNT/INV-1"


def test_an_invoice_of_another_account_or_outside_the_payment_is_refused() -> None:
    p = payment([("A", "INV-1", 1000, 0), ("B", "INV-2", 2000, 0)])
    assert refusal(lambda: line_index(p, "I-9")) == "I-9 is not an invoice of payment pay-1"
    assert refusal(lambda: line_index(p, "A/INV-2")) == "A/INV-2 is not an invoice of payment pay-1"
    assert refusal(lambda: line_index(p, "C/INV-1")) == "C/INV-1 is not an invoice of payment pay-1"


def test_a_slash_or_percent_inside_an_identifier_is_written_as_in_the_invoice_key() -> None:
    p = payment([("A/B", "INV-1", 1000, 0), ("A", "B/INV-1", 2000, 0), ("C", "50%", 500, 0)])
    assert line_index(p, "A%2FB/INV-1") == 0
    assert line_index(p, "A/B%2FINV-1") == 1
    assert line_index(p, "50%25") == 2
    assert line_index(p, "C/50%25") == 2


def test_an_invoice_number_with_a_slash_is_named_alone_with_the_slash_written_as_in_its_key() -> None:
    p = payment([("A", "B/INV-1", 2000, 0), ("C", "x%2Fy", 500, 0)])
    assert line_index(p, "B%2FINV-1") == 0
    assert line_index(p, "B%2fINV-1") == 0
    assert line_index(p, "x%252Fy") == 1  # a number that holds the text %2F itself


def test_a_name_with_two_bare_slashes_is_refused_with_how_to_write_it() -> None:
    p = payment([("A", "B/INV-1", 2000, 0)])
    assert refusal(lambda: line_index(p, "A/B/INV-1")) == (
        "A/B/INV-1: write ACCOUNT/INVOICE, with a / inside either written %2F"
    )


# ---- which Invoice Cloud payment id --------------------------------------------------------------------


def test_the_payment_ids_heard_of_are_its_postbacks_and_those_it_applied_money_for_once_each() -> None:
    recorded = by_key(
        record(postback(guid="G-2", invoice="I-1")),
        record(postback(guid="G-1", invoice="I-1")),
        record(postback(guid="G-2", invoice="I-2")),
        record(postback(guid="", problem="missing_payment_guid")),
    )
    p = payment(ic_payment_ids=("G-3", "G-1"))
    assert known_payment_guids(p, recorded) == ["G-1", "G-2", "G-3"]
    assert known_payment_guids(payment(), {}) == []


def test_a_decision_settles_the_payment_id_given_or_the_only_one_heard_of() -> None:
    one = by_key(record(postback(guid="G-1")))
    assert settled_guid(payment(), one, "G-9") == "G-9"
    assert settled_guid(payment(), one, None) == "G-1"
    assert settled_guid(payment(), one, "") == "G-1"
    assert settled_guid(payment(ic_payment_ids=("G-4",)), {}, None) == "G-4"


def test_a_decision_without_a_payment_id_is_refused_when_none_or_several_are_known() -> None:
    assert refusal(lambda: settled_guid(payment(), {}, None)) == (
        "no Invoice Cloud payment id is recorded for this payment: give the one Invoice Cloud shows (--payment-guid)"
    )
    two = by_key(record(postback(guid="G-2")), record(postback(guid="G-1", invoice="I-1")))
    assert refusal(lambda: settled_guid(payment(), two, None)) == (
        "this payment has several Invoice Cloud payment ids (G-1, G-2): give one"
    )


def test_the_latest_readable_approval_of_a_payment_id_gives_its_details() -> None:
    first = record(postback(guid="G-1", invoice="I-1"), 1)
    latest = record(postback(guid="G-1", invoice="I-2"), 3)
    recorded = by_key(
        first,
        latest,
        record(postback(guid="G-1", invoice="I-2", approved=False), 4),
        record(postback(guid="G-1", invoice="I-1", problem="fee_unreadable"), 5),
        record(postback(guid="G-2", invoice="I-1"), 6),
    )
    assert latest_approval(recorded, "G-1") is latest
    assert latest_approval(recorded) is recorded["G-2|I-1|True"]
    assert latest_approval(recorded, "G-3") is None
    assert latest_approval(by_key(record(postback(approved=False)))) is None


# ---- what Invoice Cloud reported ----------------------------------------------------------------------


def test_nothing_readable_reported_is_no_cap() -> None:
    assert reported_cents({}) is None
    assert reported_cents(by_key(record(postback(5000, approved=False)))) is None
    assert reported_cents(by_key(record(postback(5000, problem="fee_unreadable")))) is None
    assert reported_cents(by_key(record(postback(0)))) is None


def test_the_cap_is_the_approvals_amount_with_its_fee_and_never_a_declines_or_an_unreadable_ones() -> None:
    recorded = by_key(
        record(postback(9000, invoice="I-2", approved=False)),
        record(postback(7000, invoice="I-3", problem="fee_unreadable")),
        record(postback(0, invoice="I-4")),
        record(postback(5000, fee=150, invoice="I-1")),
    )
    assert reported_cents(recorded) == 5150


def test_conflicting_copies_of_one_approval_restate_the_same_money_at_the_largest() -> None:
    larger = postback(5000, invoice="I-1")
    smaller = postback(4000, invoice="I-1")
    assert reported_cents(by_key(record(larger), record(smaller, key=smaller.identity + "-c"))) == 5000
    assert reported_cents(by_key(record(smaller), record(larger, key=larger.identity + "-c"))) == 5000


def test_a_payment_ids_approvals_for_several_invoices_add_up() -> None:
    recorded = by_key(record(postback(3000, invoice="I-1", fee=100)), record(postback(2000, invoice="I-2")))
    assert reported_cents(recorded) == 5100


@pytest.mark.parametrize(("told_by_postbacks", "told_by_file", "cap"), [(5000, 5500, 5500), (5000, 4500, 5000)])
def test_a_payment_id_reports_its_postbacks_or_its_file_rows_whichever_say_more(
    told_by_postbacks: int, told_by_file: int, cap: int
) -> None:
    rows = (postback(3000, invoice="I-1"), postback(told_by_file - 3000, invoice="I-2"))
    recorded = by_key(
        record(postback(told_by_postbacks)),
        *(record(row, key="F" + row.identity, source="file") for row in rows),
    )
    assert reported_cents(recorded) == cap


def test_each_payment_id_reports_its_own_money_and_the_payment_all_of_it() -> None:
    recorded = by_key(
        record(postback(5000, guid="G-1")),
        record(postback(2000, guid="G-2")),
        record(postback(1500, guid="G-2", invoice="I-1"), key="F-G-2", source="file"),
    )
    assert reported_cents(recorded) == 7000


# ---- applying an allocation ---------------------------------------------------------------------------


def test_a_decision_on_a_payment_not_under_review_is_refused() -> None:
    for status in (S.APPROVED, S.PENDING, S.CLOSED):
        p = payment(status=status)
        assert refusal(lambda p=p: apply_allocation(p, {0: 3000}, {}, NOW, payment_guid="G-1")) == (
            f"payment pay-1 is {status.value}, not NEEDS_REVIEW"
        )
        assert refusal(lambda p=p: dismiss(p, NOW)) == f"payment pay-1 is {status.value}, not NEEDS_REVIEW"


def test_an_allocation_credits_its_invoices_and_approves_the_payment() -> None:
    p = payment(version=4)
    after = apply_allocation(p, {0: 3000, 1: 1500}, {}, NOW, payment_guid="G-1")
    assert (after.status, [line.paid_cents for line in after.lines]) == (S.APPROVED, [3000, 1500])
    assert (after.version, after.completed_at, after.ic_payment_ids) == (5, NOW, ("G-1",))
    assert [line.due_cents for line in after.lines] == [3000, 2000]


def test_an_allocation_keeps_when_the_payment_was_completed_and_the_payment_ids_it_had() -> None:
    earlier = NOW - timedelta(minutes=40)
    p = payment([("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)], completed_at=earlier, ic_payment_ids=("G-1",))
    after = apply_allocation(p, {1: 2000}, {}, NOW, payment_guid="G-1")
    assert (after.completed_at, after.ic_payment_ids) == (earlier, ("G-1",))
    other = apply_allocation(p, {1: 2000}, {}, NOW, payment_guid="G-2")
    assert other.ic_payment_ids == ("G-1", "G-2")


def test_an_amount_of_zero_is_refused() -> None:
    assert refusal(lambda: apply_allocation(payment(), {0: 3000, 1: 0}, {}, NOW, payment_guid="G-1")) == (
        "I-2: the amount must not be zero"
    )


def test_an_amount_may_be_what_is_unpaid_on_its_invoice_in_the_payment_and_no_more() -> None:
    p = payment([("A", "I-1", 3000, 1000), ("A", "I-2", 2000, 0)])
    after = apply_allocation(p, {0: 2000}, {}, NOW, payment_guid="G-1")
    assert [line.paid_cents for line in after.lines] == [3000, 0]
    assert refusal(lambda: apply_allocation(p, {0: 2001}, {}, NOW, payment_guid="G-1")) == (
        "I-1: 20.01 is more than the 20.00 still unpaid on it in this payment"
    )


def test_a_correction_takes_back_what_the_payment_credited_there_and_no_more() -> None:
    """The rules put the money on I-1; Invoice Cloud's file says it charged I-2."""
    p = payment([("A", "I-1", 3000, 2000), ("A", "I-2", 2000, 0)])
    after = apply_allocation(p, {0: -2000, 1: 2000}, {}, NOW, payment_guid="G-1")
    assert (after.status, [line.paid_cents for line in after.lines]) == (S.APPROVED, [0, 2000])
    part = apply_allocation(p, {0: -500}, {}, NOW, payment_guid="G-1")
    assert [line.paid_cents for line in part.lines] == [1500, 0]
    assert refusal(lambda: apply_allocation(p, {0: -2001, 1: 2000}, {}, NOW, payment_guid="G-1")) == (
        "I-1: the payment credited only 20.00 there, so no more than that can be taken back"
    )


def test_no_allocation_confirms_a_payment_that_holds_credits_as_it_stands() -> None:
    p = payment([("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    after = apply_allocation(p, {}, {}, NOW, payment_guid="G-1")
    assert (after.status, after.lines) == (S.APPROVED, p.lines)


def test_a_decision_that_leaves_the_payment_crediting_nothing_is_refused_close_it_instead() -> None:
    assert refusal(lambda: apply_allocation(payment(), {}, {}, NOW, payment_guid="G-1")) == (
        "the payment credits nothing: give INVOICE=AMOUNT, or dismiss it"
    )
    p = payment([("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    assert refusal(lambda: apply_allocation(p, {0: -3000}, {}, NOW, payment_guid="G-1")) == (
        "that leaves nothing on the payment: dismiss it instead"
    )


def test_a_decision_may_credit_up_to_what_invoice_cloud_reported_and_no_more() -> None:
    reported = by_key(record(postback(4000, fee=100)))
    p = payment([("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    up_to = apply_allocation(p, {1: 1100}, reported, NOW, payment_guid="G-1")
    assert up_to.amount_paid_cents == 4100
    assert refusal(lambda: apply_allocation(p, {1: 1101}, reported, NOW, payment_guid="G-1")) == (
        "that would credit 41.01 in all, more than the 41.00 Invoice Cloud reported for this payment"
    )
    # Nothing readable reported: ops know the amount from Invoice Cloud.
    assert apply_allocation(p, {1: 2000}, {}, NOW, payment_guid="G-1").amount_paid_cents == 5000


def test_the_settled_payment_ids_postbacks_give_the_fee_and_its_latest_approval_method_card_and_code() -> None:
    """The fee is every postback identity's of the settled payment id (Invoice Cloud sends it on one
    invoice's postback, not necessarily the latest); method, card type and code are the latest's."""
    recorded = by_key(
        record(postback(3000, invoice="I-1", fee=100, method="ACH", authorization="old"), 1),
        record(postback(5000, fee=250, method="CARD", card_type="Visa", authorization="APPROVED 7276"), 2),
        record(postback(9000, guid="G-2", fee=999, method="ACH", card_type="Amex", authorization="other"), 3),
    )
    after = apply_allocation(payment(convenience_fee_cents=50), {0: 3000}, recorded, NOW, payment_guid="G-1")
    assert (after.convenience_fee_cents, after.payment_method, after.card_type, after.authorization) == (
        50 + 100 + 250,
        "CARD",
        "Visa",
        "APPROVED 7276",
    )


def test_the_details_the_payment_has_are_kept_and_its_payment_ids_fee_is_not_counted_twice() -> None:
    recorded = by_key(record(postback(5000, fee=250, method="ACH", card_type="Checking", authorization="ok")))
    p = payment(
        [("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)],
        ic_payment_ids=("G-1",),
        convenience_fee_cents=250,
        payment_method="CARD",
        card_type="Visa",
        authorization="APPROVED 7276",
    )
    after = apply_allocation(p, {1: 2000}, recorded, NOW, payment_guid="G-1")
    assert (after.convenience_fee_cents, after.payment_method, after.card_type, after.authorization) == (
        250,
        "CARD",
        "Visa",
        "APPROVED 7276",
    )


def test_a_bank_payment_has_no_card_type_whatever_invoice_cloud_sent_as_one() -> None:
    recorded = by_key(record(postback(5000, method="ACH", card_type="Checking")))
    after = apply_allocation(payment(), {0: 3000}, recorded, NOW, payment_guid="G-1")
    assert (after.payment_method, after.card_type, after.authorization) == ("ACH", None, None)
    unknown = by_key(record(postback(5000)))
    after = apply_allocation(payment(), {0: 3000}, unknown, NOW, payment_guid="G-1")
    assert (after.payment_method, after.card_type, after.authorization) == (None, None, None)


def test_without_an_approval_of_the_settled_payment_id_the_payment_keeps_its_details() -> None:
    recorded = by_key(record(postback(5000, guid="G-2", fee=250, method="CARD", card_type="Visa", authorization="x")))
    after = apply_allocation(payment(convenience_fee_cents=50), {0: 3000}, recorded, NOW, payment_guid="G-1")
    assert (after.convenience_fee_cents, after.payment_method, after.card_type, after.authorization) == (
        50,
        None,
        None,
        None,
    )
    assert after.ic_payment_ids == ("G-1",)


# ---- the credits and corrections of a decision ---------------------------------------------------------


def test_a_decisions_credits_are_its_positive_amounts_in_line_order_and_release_paid_invoices() -> None:
    p = payment([("A", "I-1", 3000, 1000), ("A", "I-2", 2000, 0), ("B", "I-3", 1000, 1000), ("B", "I-4", 500, 0)])
    credits = review_credits(p, {3: 1, 1: 1500, 0: 2000, 2: -1000}, "rv1")
    assert credits == [
        PostbackCredit(ref=InvoiceRef(account_number="A", invoice_number="I-1"), credit_id="pay-1#rv1", cents=2000,
                       releases_hold=True),
        PostbackCredit(ref=InvoiceRef(account_number="A", invoice_number="I-2"), credit_id="pay-1#rv1", cents=1500,
                       releases_hold=False),
        PostbackCredit(ref=InvoiceRef(account_number="B", invoice_number="I-4"), credit_id="pay-1#rv1", cents=1,
                       releases_hold=False),
    ]  # fmt: skip
    assert review_credits(p, {2: -1000}, "rv1") == []


A1 = InvoiceRef(account_number="A", invoice_number="I-1")
A2 = InvoiceRef(account_number="A", invoice_number="I-2")


def held(cents: int, hours_ago: int, guid: str = "G-1", **extra: object) -> Credit:
    """A credit of payment pay-1 (unless ``payment_id`` says otherwise), approved ``hours_ago``."""
    values: dict[str, object] = {
        "payment_id": "pay-1",
        "cents": cents,
        "approved_at": NOW - timedelta(hours=hours_ago),
        "payment_guid": guid,
    }
    values.update(extra)
    return Credit(**values)  # type: ignore[arg-type]


def billed(ref: InvoiceRef, **credits: Credit) -> Invoice:
    return Invoice(
        account_number=ref.account_number,
        invoice_number=ref.invoice_number,
        billed_cents=5000,
        billed_as_of=NOW - timedelta(days=2),
        credits=credits,
    )


def test_a_correction_takes_the_newest_credits_first_counting_what_reversals_took() -> None:
    p = payment([("A", "I-1", 3000, 2800)])
    invoice = billed(A1, **{"pay-1#old": held(1000, 5, reversed_cents=200), "pay-1#new": held(2000, 1)})
    assert corrections(p, {0: 2500}, {A1: invoice}, "rc", payment_guid="G-1") == [
        ("G-1", ReversalCredit(ref=A1, credit_key="pay-1#rc0", cents=2500,
                               taken={"pay-1#new": 2000, "pay-1#old": 500},
                               reversed_after={"pay-1#new": 2000, "pay-1#old": 700})),
    ]  # fmt: skip
    assert corrections(p, {0: 1500}, {A1: invoice}, "rc", payment_guid="G-1") == [
        ("G-1", ReversalCredit(ref=A1, credit_key="pay-1#rc0", cents=1500, taken={"pay-1#new": 1500},
                               reversed_after={"pay-1#new": 1500})),
    ]  # fmt: skip


def test_a_correction_takes_the_settled_payment_ids_credits_first_each_payment_id_an_entry_of_its_own() -> None:
    p = payment([("A", "I-1", 3000, 3000)])
    invoice = billed(A1, **{"pay-1#g1": held(1000, 5, "G-1"), "pay-1#g2": held(2000, 1, "G-2")})
    assert corrections(p, {0: 1500}, {A1: invoice}, "rc", payment_guid="G-1") == [
        ("G-1", ReversalCredit(ref=A1, credit_key="pay-1#rc0", cents=1000, taken={"pay-1#g1": 1000},
                               reversed_after={"pay-1#g1": 1000})),
        ("G-2", ReversalCredit(ref=A1, credit_key="pay-1#rc1", cents=500, taken={"pay-1#g2": 500},
                               reversed_after={"pay-1#g2": 500})),
    ]  # fmt: skip
    # Closing names no payment id: the newest credit goes first.
    assert corrections(p, {0: 1500}, {A1: invoice}, "rc") == [
        ("G-2", ReversalCredit(ref=A1, credit_key="pay-1#rc0", cents=1500, taken={"pay-1#g2": 1500},
                               reversed_after={"pay-1#g2": 1500})),
    ]  # fmt: skip


def test_credits_approved_at_the_same_moment_are_taken_in_the_order_of_their_keys() -> None:
    p = payment([("A", "I-1", 3000, 3000)])
    invoice = billed(A1, **{"pay-1#b": held(2000, 1), "pay-1#a": held(1000, 1)})
    ((_, entry),) = corrections(p, {0: 1500}, {A1: invoice}, "rc", payment_guid="G-1")
    assert dict(entry.taken) == {"pay-1#a": 1000, "pay-1#b": 500}


def test_one_payment_id_has_one_correction_key_on_every_invoice_of_the_decision() -> None:
    p = payment([("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 2000)])
    invoices = {
        A1: billed(A1, **{"pay-1#x": held(3000, 2, "G-2")}),
        A2: billed(A2, **{"pay-1#y": held(1000, 2, "G-1"), "pay-1#z": held(1000, 1, "G-2")}),
    }
    found = corrections(p, {1: 2000, 0: 3000}, invoices, "rc", payment_guid="G-1")
    assert [(guid, str(entry.ref), entry.credit_key, entry.cents) for guid, entry in found] == [
        ("G-2", "A/I-1", "pay-1#rc0", 3000),
        ("G-1", "A/I-2", "pay-1#rc1", 1000),
        ("G-2", "A/I-2", "pay-1#rc0", 1000),
    ]


def test_only_the_payments_own_payment_credits_with_money_left_are_taken_back() -> None:
    p = payment([("A", "I-1", 3000, 3000)])
    invoice = billed(
        A1,
        **{
            "pay-2#x": held(3000, 1, payment_id="pay-2"),
            "pay-1#fix": held(3000, 1, kind="CORRECTION"),
            "pay-1#spent": held(3000, 1, reversed_cents=3000),
            "pay-1#own": held(1000, 9),
            "pay-1#cent-left": held(1000, 8, reversed_cents=999),
        },
    )
    ((_, entry),) = corrections(p, {0: 1001}, {A1: invoice}, "rc", payment_guid="G-1")
    assert dict(entry.taken) == {"pay-1#cent-left": 1, "pay-1#own": 1000}
    assert refusal(lambda: corrections(p, {0: 1002}, {A1: invoice}, "rc", payment_guid="G-1")) == (
        "I-1: the invoice does not hold 10.02 of this payment's credits to take back"
    )


def test_a_correction_on_an_invoice_not_read_is_refused() -> None:
    p = payment([("A", "I-1", 3000, 3000)])
    assert refusal(lambda: corrections(p, {0: 1000}, {}, "rc", payment_guid="G-1")) == (
        "I-1: the invoice does not hold 10.00 of this payment's credits to take back"
    )


def test_what_a_decision_moved_is_told_by_payment_id_and_invoice_net_of_its_corrections() -> None:
    credits = [
        PostbackCredit(ref=A1, credit_id="pay-1#rv", cents=2000, releases_hold=False),
        PostbackCredit(ref=A2, credit_id="pay-1#rv", cents=1500, releases_hold=True),
    ]
    taken = [
        ("G-1", ReversalCredit(ref=A1, credit_key="pay-1#rc0", cents=500, taken={}, reversed_after={})),
        ("G-2", ReversalCredit(ref=A1, credit_key="pay-1#rc1", cents=700, taken={}, reversed_after={})),
        ("G-2", ReversalCredit(ref=A1, credit_key="pay-1#rc1", cents=300, taken={}, reversed_after={})),
    ]
    assert money_by_guid(credits, taken, "G-1") == {"G-1": {"A/I-1": 1500, "A/I-2": 1500}, "G-2": {"A/I-1": -1000}}
    assert money_by_guid([], [], "G-1") == {}


# ---- closing ----------------------------------------------------------------------------------------------


def test_closing_a_payment_leaves_it_crediting_nothing() -> None:
    p = payment([("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 500)], version=2)
    after = dismiss(p, NOW)
    assert (after.status, after.version, after.completed_at) == (S.CLOSED, 3, NOW)
    assert [(line.invoice_number, line.due_cents, line.paid_cents) for line in after.lines] == [
        ("I-1", 3000, 0),
        ("I-2", 2000, 0),
    ]
    earlier = NOW - timedelta(minutes=40)
    assert dismiss(payment(completed_at=earlier), NOW).completed_at == earlier


def test_closing_takes_back_every_lines_paid_cents() -> None:
    p = payment([("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0), ("B", "I-3", 1000, 500)])
    assert paid_lines(p) == {0: 3000, 2: 500}
    assert paid_lines(payment()) == {}


# ---- what the rules would make of each approval waiting --------------------------------------------------


def test_each_approval_waiting_is_shown_with_what_the_rules_would_make_of_it_oldest_first() -> None:
    p = payment([("A", "I-1", 3000, 0), ("A", "I-2", 2000, 0)])
    later = record(postback(2000, invoice="I-2"), 5)
    earlier = record(postback(5000, invoice="I-9"), 2)
    recorded = by_key(
        later,
        earlier,
        record(postback(3000, invoice="I-1", approved=False), 1),
        record(postback(3000, invoice="I-1", problem="fee_unreadable"), 3),
        record(postback(3000, invoice="I-1", guid="G-0"), 4, outcome=Outcome.APPLIED),
    )
    assert candidates(p, recorded) == [
        Candidate(postback_key=earlier.key, credit_cents=5000, invoice_number="I-9", allocation={},
                  reason=ReviewReason.UNKNOWN_INVOICE),
        Candidate(postback_key=later.key, credit_cents=2000, invoice_number="I-2", allocation={"A/I-2": 2000},
                  reason=None),
    ]  # fmt: skip


def test_an_approval_of_nothing_waiting_is_never_shown_allocating_money() -> None:
    """Invoice Cloud said 0.00 (a readable approval, for review as invalid_amount): whatever the
    rules make of it, they put no money anywhere."""
    (candidate,) = candidates(payment(partial=True), by_key(record(postback(0, invoice="I-1"))))
    assert (candidate.credit_cents, sum(candidate.allocation.values())) == (0, 0)
