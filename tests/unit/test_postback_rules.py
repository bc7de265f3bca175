"""The rules of DESIGN §6c: every row of the transition table, identity, credit, allocation in its
order, reconciliation, and the payment afterwards."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.domain.postbacks import (
    Decision,
    Outcome,
    ReceivedPostback,
    RecordedPostback,
    ReviewReason,
    apply_decision,
    conflict_key,
    credits_of,
    decide_postback,
    decision_keys,
)
from avocette.invoicecloud.postback import parse_postback

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
BILLER_GUID = "3F1C2A4E-0000-4000-8000-00000000AAAA"
TYPE_IDS: Mapping[str, str] = {"1": "CARD", "2": "ACH"}
S = PaymentStatus


def payment(
    status: PaymentStatus = S.PENDING,
    lines: list[tuple[str, str, int, int]] | None = None,
    *,
    partial: bool | None = None,
    **extra: object,
) -> Payment:
    """A payment of (account, invoice, due cents, paid cents) lines; one 50.00 invoice by default."""
    lines = lines or [("ACCT-1", "INV-1", 5000, 0)]
    return Payment(
        payment_id="pay-1",
        sub="alice",
        status=status,
        lines=tuple(
            PaymentLine(account_number=a, invoice_number=i, due_cents=due, paid_cents=paid, allow_partial=partial)
            for a, i, due, paid in lines
        ),
        created_at=NOW - timedelta(minutes=5),
        session_expires_at=NOW + timedelta(minutes=25),
        **extra,  # type: ignore[arg-type]
    )


def postback(
    approved: bool = True, amount: str | None = "50.00", invoice: str = "", *, includes_fee: bool = False, **fields: str
) -> ReceivedPostback:
    values = {"PaymentGUID": "guid-1", "Approved": "True" if approved else "False", "InvoiceNumber": invoice}
    if amount is not None:
        values["PaymentAmount"] = amount
    values.update(fields)
    return parse_postback(values, amount_includes_fee=includes_fee, payment_type_ids=TYPE_IDS)  # type: ignore[arg-type]


def run(p: Payment, pb: ReceivedPostback, recorded: Mapping[str, RecordedPostback] | None = None) -> Decision:
    return decide_postback(p, pb, recorded or {}, biller_guid=BILLER_GUID)


def recorded_as(pb: ReceivedPostback, outcome: Outcome = Outcome.APPLIED) -> dict[str, RecordedPostback]:
    return {pb.identity: RecordedPostback(key=pb.identity, postback=pb, outcome=outcome, reason=None, received_at=NOW)}


# ---- the transition table -----------------------------------------------------------------------


@pytest.mark.parametrize("start", [S.CREATED, S.PENDING, S.DECLINED, S.EXPIRED, S.FAILED])
def test_approved_and_reconcilable_ends_approved(start: PaymentStatus) -> None:
    decision = run(payment(start), postback())
    assert (decision.outcome, decision.status, decision.allocation) == (Outcome.APPLIED, S.APPROVED, {0: 5000})


@pytest.mark.parametrize("start", [S.CREATED, S.PENDING])
def test_declined_from_an_open_payment_ends_declined(start: PaymentStatus) -> None:
    decision = run(payment(start), postback(approved=False))
    assert (decision.outcome, decision.status, decision.allocation) == (Outcome.DECLINED, S.DECLINED, {})


@pytest.mark.parametrize("start", [S.DECLINED, S.EXPIRED, S.FAILED, S.APPROVED, S.REVERSED, S.CLOSED])
def test_declined_otherwise_stays(start: PaymentStatus) -> None:
    decision = run(payment(start), postback(approved=False))
    assert (decision.outcome, decision.status, decision.allocation) == (Outcome.DECLINED, start, {})


@pytest.mark.parametrize(
    "start", [S.CREATED, S.PENDING, S.DECLINED, S.EXPIRED, S.FAILED, S.APPROVED, S.REVERSED, S.CLOSED]
)
def test_not_reconcilable_ends_needs_review_without_money(start: PaymentStatus) -> None:
    decision = run(payment(start), postback(amount="60.00"))
    assert (decision.outcome, decision.status, decision.reason) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        ReviewReason.AMOUNT_EXCEEDS_DUE,
    )
    assert decision.allocation == {}


@pytest.mark.parametrize("start", [S.REVERSED, S.CLOSED])
def test_money_for_a_reversed_or_closed_payment_is_for_review(start: PaymentStatus) -> None:
    decision = run(payment(start), postback())
    assert (decision.status, decision.reason, decision.allocation) == (
        S.NEEDS_REVIEW,
        ReviewReason.PAYMENT_CLOSED,
        {},
    )


@pytest.mark.parametrize("event", [postback(), postback(approved=False), postback(amount="99.00")])
def test_needs_review_is_sticky(event: ReceivedPostback) -> None:
    decision = run(payment(S.NEEDS_REVIEW), event)
    assert decision.status is S.NEEDS_REVIEW and decision.allocation == {}
    assert decision.outcome in (Outcome.RECORDED, Outcome.DECLINED)


def test_approved_adds_amounts_for_invoices_not_yet_paid() -> None:
    p = payment(S.APPROVED, [("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    decision = run(p, postback(amount="20.00", invoice="I-2"))
    assert (decision.status, decision.allocation) == (S.APPROVED, {1: 2000})


def test_approved_again_for_a_paid_invoice_is_a_duplicate_payment() -> None:
    p = payment(S.APPROVED, [("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    decision = run(p, postback(amount="30.00", invoice="I-1"))
    assert (decision.status, decision.reason) == (S.NEEDS_REVIEW, ReviewReason.DUPLICATE_PAYMENT)


def test_approved_when_everything_is_paid_is_a_duplicate_payment() -> None:
    decision = run(payment(S.APPROVED, [("A", "I-1", 3000, 3000)]), postback(amount="30.00"))
    assert decision.reason is ReviewReason.DUPLICATE_PAYMENT


def test_a_credit_the_store_refused_across_payments_is_a_duplicate_payment() -> None:
    decision = decide_postback(payment(), postback(), {}, biller_guid=BILLER_GUID, over_credit_refused=True)
    assert (decision.outcome, decision.status, decision.reason, decision.allocation) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        ReviewReason.DUPLICATE_PAYMENT,
        {},
    )


# ---- identity: duplicates and conflicts on read values -------------------------------------------------


@pytest.mark.parametrize(("first", "again"), [("10", "10.00"), ("10.00", "$10.00"), ("1,000", "1000.00")])
def test_the_same_postback_in_other_formatting_is_a_duplicate(first: str, again: str) -> None:
    p = payment(lines=[("A", "I-1", 100000, 0)])
    original = postback(amount=first, ConvenienceFee="1")
    decision = run(p, postback(amount=again, ConvenienceFee="1.00"), recorded_as(original))
    assert (decision.outcome, decision.status, decision.record_as) == (Outcome.DUPLICATE, S.PENDING, "")


def test_the_same_identity_with_other_values_is_a_conflict_recorded_beside_it() -> None:
    original = postback(amount="50.00")
    conflicting = postback(amount="49.00")
    decision = run(payment(S.APPROVED), conflicting, recorded_as(original))
    assert (decision.outcome, decision.status, decision.reason) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        ReviewReason.CONFLICTING_POSTBACK,
    )
    assert decision.record_as.startswith(original.identity + "-") and decision.record_as != original.identity
    twice = {**recorded_as(original), decision.record_as: recorded_as(conflicting)[conflicting.identity]}
    assert run(payment(S.NEEDS_REVIEW), conflicting, twice).outcome is Outcome.DUPLICATE


def test_an_unreadable_postback_is_invalid_and_for_review() -> None:
    pb = postback(amount="fifty")
    decision = run(payment(), pb)
    assert (decision.outcome, decision.status, decision.reason) == (
        Outcome.INVALID,
        S.NEEDS_REVIEW,
        ReviewReason.INVALID_POSTBACK,
    )
    assert decision.record_as == pb.identity and pb.identity.startswith("invalid-")


# ---- credit ---------------------------------------------------------------------------------------


def test_credit_is_the_amount_when_it_excludes_the_fee() -> None:
    decision = run(payment(), postback(amount="50.00", ConvenienceFee="1.00"))
    assert decision.allocation == {0: 5000}


def test_credit_is_amount_less_fee_when_it_includes_the_fee() -> None:
    assert run(payment(), postback(amount="51.00", ConvenienceFee="1.00", includes_fee=True)).allocation == {0: 5000}
    assert run(payment(), postback(amount="51.00", ConvenienceFee="1.00")).reason is ReviewReason.AMOUNT_EXCEEDS_DUE


@pytest.mark.parametrize("amount", ["0", "0.00"])
def test_a_credit_of_nothing_is_for_review(amount: str) -> None:
    assert run(payment(), postback(amount=amount)).reason is ReviewReason.INVALID_AMOUNT


@pytest.mark.parametrize("amount", ["50", "50.00", "$50.00"])
def test_amount_forms_of_invoice_cloud(amount: str) -> None:
    assert run(payment(), postback(amount=amount)).allocation == {0: 5000}


def test_dollar_form_with_thousands() -> None:
    p = payment(lines=[("A", "I-1", 150000, 0)])
    assert run(p, postback(amount="$1,500.00")).allocation == {0: 150000}


# ---- allocation, in the order of the rules ----------------------------------------------------------

TWO = [("A", "I-1", 3000, 0), ("A", "I-2", 2000, 0)]


def test_rule_1_a_named_invoice_outside_the_payment_is_for_review_even_when_the_amount_fits() -> None:
    assert run(payment(lines=TWO), postback(amount="50.00", invoice="I-9")).reason is ReviewReason.UNKNOWN_INVOICE


@pytest.mark.parametrize("named", ["", "I-1", "I-2"])
def test_rule_2_everything_unpaid_pays_every_invoice_whatever_is_named(named: str) -> None:
    assert run(payment(lines=TWO), postback(amount="50.00", invoice=named)).allocation == {0: 3000, 1: 2000}


def test_rule_3_per_account_postback_naming_an_invoice_pays_that_account() -> None:
    lines = [("A", "A-1", 1000, 0), ("A", "A-2", 2000, 0), ("B", "B-1", 4000, 0)]
    assert run(payment(lines=lines), postback(amount="30.00", invoice="A-2")).allocation == {0: 1000, 1: 2000}


def test_rule_4_a_named_invoice_gets_the_credit() -> None:
    assert run(payment(lines=TWO), postback(amount="20.00", invoice="I-2")).allocation == {1: 2000}


def test_rule_4_a_part_payment_only_where_the_invoice_allows_it() -> None:
    decision = run(payment(lines=TWO, partial=True), postback(amount="10.00", invoice="I-1"))
    assert (decision.status, decision.allocation, decision.notes) == (S.APPROVED, {0: 1000}, ("PartialPaymentApplied",))
    for partial in (False, None):
        refused = run(payment(lines=TWO, partial=partial), postback(amount="10.00", invoice="I-1"))
        assert (refused.status, refused.reason) == (S.NEEDS_REVIEW, ReviewReason.PARTIAL_NOT_ALLOWED)


def test_rule_4_a_part_amount_naming_a_removed_first_invoice_is_never_guessed_onto_it() -> None:
    """The payer removed I-1 and paid I-2 (20.00); Invoice Cloud names the first requested invoice."""
    decision = run(payment(lines=TWO), postback(amount="20.00", invoice="I-1"))
    assert (decision.status, decision.allocation) == (S.NEEDS_REVIEW, {})


def test_rule_4_a_credit_above_the_named_invoice_is_for_review() -> None:
    assert run(payment(lines=TWO), postback(amount="35.00", invoice="I-2")).reason is ReviewReason.AMOUNT_EXCEEDS_DUE


def test_rule_5_one_unpaid_invoice_takes_an_unnamed_credit() -> None:
    p = payment(lines=[("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    assert run(p, postback(amount="20.00")).allocation == {1: 2000}


def test_rule_6_an_unnamed_part_of_two_invoices_is_unallocated() -> None:
    decision = run(payment(lines=TWO), postback(amount="25.00"))
    assert (decision.status, decision.reason, decision.allocation) == (
        S.NEEDS_REVIEW,
        ReviewReason.UNALLOCATED_AMOUNT,
        {},
    )


def test_rule_6_an_unnamed_credit_is_never_matched_to_an_account_by_its_total() -> None:
    lines = [("A", "A-1", 1000, 0), ("A", "A-2", 2000, 0), ("B", "B-1", 4000, 0)]
    assert run(payment(lines=lines), postback(amount="40.00")).reason is ReviewReason.UNALLOCATED_AMOUNT


def test_same_invoice_number_on_two_accounts_is_ambiguous_when_named() -> None:
    lines = [("A", "INV-1", 1000, 0), ("B", "INV-1", 2000, 0)]
    assert run(payment(lines=lines), postback(amount="10.00", invoice="INV-1")).reason is ReviewReason.AMBIGUOUS_INVOICE


def test_below_the_minimum_where_partial_is_allowed_is_applied_and_noted() -> None:
    p = Payment(
        payment_id="pay-1", sub="alice", status=S.PENDING,
        lines=(
            PaymentLine(
                account_number="A", invoice_number="I-1", due_cents=5000, allow_partial=True, minimum_cents=4000
            ),
        ),
        created_at=NOW, session_expires_at=NOW + timedelta(minutes=30),
    )  # fmt: skip
    decision = run(p, postback(amount="30.00", invoice="I-1"))
    assert decision.allocation == {0: 3000}
    assert set(decision.notes) == {"PartialPaymentApplied", "BelowMinimumAmountDue"}


# ---- reconcilable -----------------------------------------------------------------------------------


def test_biller_reference_must_be_the_payment_id_when_sent() -> None:
    assert run(payment(), postback(BillerReference="pay-1")).status is S.APPROVED
    assert run(payment(), postback(BillerReference="pay-2")).reason is ReviewReason.BILLER_REFERENCE_MISMATCH


def test_biller_guid_must_be_ours_when_sent() -> None:
    assert run(payment(), postback(BillerGUID=BILLER_GUID.lower())).status is S.APPROVED
    assert run(payment(), postback(BillerGUID="someone-else")).reason is ReviewReason.BILLER_GUID_MISMATCH


# ---- the payment afterwards -------------------------------------------------------------------------


def test_apply_records_amounts_ids_fee_method_authorization_and_completion() -> None:
    p = payment(lines=TWO)
    pb = postback(
        amount="50.00", ConvenienceFee="2.00", CardType="Visa", PaymentTypeID="1", PaymentMessage="APPROVED 727634"
    )
    after = apply_decision(p, run(p, pb), pb, NOW)
    assert after.status is S.APPROVED
    assert [line.paid_cents for line in after.lines] == [3000, 2000]
    assert after.ic_payment_ids == ("guid-1",)
    assert (after.convenience_fee_cents, after.payment_method, after.card_type) == (200, "CARD", "Visa")
    assert after.authorization == "APPROVED 727634"
    assert (after.completed_at, after.version) == (NOW, p.version + 1)


@pytest.mark.parametrize(("type_id", "method"), [("2", "ACH"), ("1", "CARD"), ("7", None), ("", None)])
def test_the_method_comes_only_from_the_type_id_map(type_id: str, method: str | None) -> None:
    p = payment()
    pb = postback(CardType="Checking", PaymentTypeID=type_id)
    assert apply_decision(p, run(p, pb), pb, NOW).payment_method == method


def test_apply_review_keeps_money_untouched_and_names_the_reason() -> None:
    p = payment(lines=TWO)
    pb = postback(amount="25.00")
    after = apply_decision(p, run(p, pb), pb, NOW)
    assert after.status is S.NEEDS_REVIEW and after.review_reason == "unallocated_amount"
    assert after.amount_paid_cents == 0 and after.ic_payment_ids == ()
    assert after.completed_at == NOW and after.flagged_at == NOW


def test_apply_decline_keeps_the_session_open_and_not_final() -> None:
    p = payment()
    pb = postback(approved=False)
    after = apply_decision(p, run(p, pb), pb, NOW)
    assert after.status is S.DECLINED and after.completed_at is None
    assert not after.is_final(NOW)
    assert after.is_final(after.session_expires_at + timedelta(seconds=1))


def test_credits_are_keyed_by_the_postback_and_release_only_fully_paid_invoices() -> None:
    p = payment(lines=TWO, partial=True)
    pb = postback(amount="10.00", invoice="I-1")
    decision = run(p, pb)
    (credit,) = credits_of(p, decision)
    assert (str(credit.ref), credit.cents, credit.releases_hold) == ("A/I-1", 1000, False)
    assert credit.credit_id == f"pay-1#{pb.identity[:24]}"
    full = run(p, postback(amount="50.00"))
    assert [c.releases_hold for c in credits_of(p, full)] == [True, True]


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_every_status_has_words_for_the_payer_and_never_an_internal_reason(status: PaymentStatus) -> None:
    from avocette.domain.payments import status_message

    p = payment(status, review_reason="duplicate_payment")
    for now in (NOW, p.session_expires_at + timedelta(minutes=1)):
        message = status_message(p, now)
        assert message.endswith(".") or message.endswith("!")
        assert "duplicate_payment" not in message and "_" not in message


# ---- a review's fee (DESIGN §6f: Invoice Cloud's fee of a payment equals the fees our entries added) --


def _per_invoice(invoice: str, fee: str, outcome: Outcome, at: datetime) -> tuple[str, RecordedPostback]:
    pb = postback(amount="5.00", invoice=invoice, ConvenienceFee=fee)
    return pb.identity, RecordedPostback(key=pb.identity, postback=pb, outcome=outcome, reason=None, received_at=at)


@pytest.mark.parametrize("fee_first", [True, False])
def test_a_review_adds_the_fee_of_every_postback_of_its_payment_id_whatever_order_they_came_in(fee_first: bool) -> None:
    """Invoice Cloud sends the fee on one invoice's postback only; the latest postback may carry none."""
    from avocette.domain.review import apply_allocation

    early, late = NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)
    recorded = dict(
        [
            _per_invoice("INV-1", "3.00", Outcome.REVIEW, early if fee_first else late),
            _per_invoice("INV-2", "0.00", Outcome.RECORDED, late if fee_first else early),
        ]
    )
    p = payment(S.NEEDS_REVIEW, [("ACCT-1", "INV-1", 500, 0), ("ACCT-1", "INV-2", 500, 0)], review_reason="x")
    after = apply_allocation(p, {0: 500, 1: 500}, recorded, NOW, payment_guid="guid-1")
    assert after.convenience_fee_cents == 300


def test_a_review_never_adds_again_the_fee_an_applied_postback_added() -> None:
    from avocette.domain.review import apply_allocation

    applied_fee = dict(
        [
            _per_invoice("INV-1", "3.00", Outcome.APPLIED, NOW - timedelta(minutes=2)),
            _per_invoice("INV-2", "0.00", Outcome.REVIEW, NOW - timedelta(minutes=1)),
        ]
    )
    q = payment(
        S.NEEDS_REVIEW, [("ACCT-1", "INV-1", 500, 500), ("ACCT-1", "INV-2", 500, 0)], review_reason="x",
        ic_payment_ids=("guid-1",), convenience_fee_cents=300,
    )  # fmt: skip
    assert apply_allocation(q, {1: 500}, applied_fee, NOW, payment_guid="guid-1").convenience_fee_cents == 300


# ---- what is recorded, and under which key ------------------------------------------------------------


def test_a_postbacks_stored_keys_are_the_same_in_every_release() -> None:
    """Recorded postbacks are found again by these keys: a redelivery after a release must meet the
    postback recorded before it (DESIGN §5: sha256(PaymentGUID, InvoiceNumber, Approved))."""
    approval, decline = postback(invoice="INV-1"), postback(approved=False, invoice="INV-1")
    assert approval.identity == hashlib.sha256(b"guid-1\x1fINV-1\x1ftrue").hexdigest()
    assert decline.identity == hashlib.sha256(b"guid-1\x1fINV-1\x1ffalse").hexdigest()
    copy = postback(amount="49.00", invoice="INV-1")
    assert conflict_key(copy) == f"{approval.identity}-{copy.values.digest[:16]}"


def test_a_decision_on_a_readable_decline_depends_only_on_its_own_copies() -> None:
    decline = postback(approved=False, invoice="INV-1")
    assert decision_keys(decline) == (decline.identity, conflict_key(decline))
    # An approval, an unreadable decline or an unreadable approval: every postback of the payment.
    assert decision_keys(postback(invoice="INV-1")) is None
    assert decision_keys(postback(approved=False, invoice="INV-1", PaymentGUID="")) is None
    assert decision_keys(postback(amount="fifty", invoice="INV-1")) is None


@pytest.mark.parametrize(("start", "status"), [(S.PENDING, S.DECLINED), (S.APPROVED, S.APPROVED)])
def test_a_decline_is_recorded_under_its_identity(start: PaymentStatus, status: PaymentStatus) -> None:
    decline = postback(approved=False)
    decision = run(payment(start), decline)
    assert (decision.outcome, decision.status, decision.record_as, decision.reason) == (
        Outcome.DECLINED,
        status,
        decline.identity,
        None,
    )


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (postback(amount="60.00"), ReviewReason.AMOUNT_EXCEEDS_DUE),
        (postback(BillerReference="pay-2"), ReviewReason.BILLER_REFERENCE_MISMATCH),
    ],
)
def test_a_postback_for_review_is_recorded_under_its_identity(event: ReceivedPostback, reason: ReviewReason) -> None:
    decision = run(payment(), event)
    assert (decision.outcome, decision.status, decision.record_as, decision.reason) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        event.identity,
        reason,
    )


def test_money_for_a_closed_payment_is_recorded_under_its_identity_for_review() -> None:
    pb = postback()
    decision = run(payment(S.CLOSED), pb)
    assert (decision.outcome, decision.record_as, decision.reason) == (
        Outcome.REVIEW,
        pb.identity,
        ReviewReason.PAYMENT_CLOSED,
    )


def test_a_decline_with_another_amount_is_recorded_not_reviewed() -> None:
    original = postback(approved=False, amount="50.00")
    copy = postback(approved=False, amount="49.00")
    decision = run(payment(S.APPROVED), copy, recorded_as(original, Outcome.DECLINED))
    assert (decision.outcome, decision.status, decision.record_as, decision.reason) == (
        Outcome.DECLINED,
        S.APPROVED,
        conflict_key(copy),
        None,
    )


def test_a_conflicting_copy_on_a_payment_under_review_is_recorded_with_its_reason_and_only_once() -> None:
    original = postback(amount="50.00")
    copy = postback(amount="49.00")
    decision = run(payment(S.NEEDS_REVIEW), copy, recorded_as(original))
    assert (decision.outcome, decision.status, decision.record_as, decision.reason) == (
        Outcome.RECORDED,
        S.NEEDS_REVIEW,
        conflict_key(copy),
        ReviewReason.CONFLICTING_POSTBACK,
    )
    twice = {**recorded_as(original), conflict_key(copy): recorded_as(copy)[copy.identity]}
    again = run(payment(S.APPROVED), copy, twice)
    assert (again.outcome, again.status, again.record_as) == (Outcome.DUPLICATE, S.APPROVED, "")


# ---- money the file or a person applied for the payment id: a retelling, or a conflict ---------------

THREE = [("A", "I-1", 1000, 1000), ("A", "I-2", 2000, 2000), ("B", "I-3", 4000, 4000)]


def told_by_the_file(allocation: dict[str, int]) -> dict[str, RecordedPostback]:
    """guid-1's money applied from Invoice Cloud's payment file, by invoice key."""
    row = postback(amount=None)
    return {
        "F-guid-1": RecordedPostback(
            key="F-guid-1", postback=row, outcome=Outcome.APPLIED, reason=None, received_at=NOW, source="file",
            allocation=allocation,
        )
    }  # fmt: skip


def test_a_postback_naming_an_invoice_retells_the_money_the_file_applied_there() -> None:
    p = payment(S.APPROVED, [("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    decision = run(p, postback(amount="30.00", invoice="I-1"), told_by_the_file({"A/I-1": 3000}))
    assert (decision.outcome, decision.status, decision.record_as, decision.allocation) == (
        Outcome.DUPLICATE,
        S.APPROVED,
        "",
        {},
    )


def test_a_postback_naming_an_invoice_retells_its_accounts_money_or_the_whole_payments() -> None:
    told = told_by_the_file({"A/I-1": 1000, "A/I-2": 2000, "B/I-3": 4000})
    per_account = run(payment(S.APPROVED, THREE), postback(amount="30.00", invoice="I-1"), told)
    assert (per_account.outcome, per_account.status) == (Outcome.DUPLICATE, S.APPROVED)
    # The file lists nothing of guid-1 on I-2: I-1 and I-3 are the whole payment's money.
    partly = [("A", "I-1", 1000, 1000), ("A", "I-2", 2000, 0), ("B", "I-3", 4000, 4000)]
    told = told_by_the_file({"A/I-1": 1000, "B/I-3": 4000})
    whole = run(payment(S.APPROVED, partly), postback(amount="50.00", invoice="I-1"), told)
    assert (whole.outcome, whole.status) == (Outcome.DUPLICATE, S.APPROVED)


@pytest.mark.parametrize("amount", ["20.00", "20.01", "25.00"])
def test_a_postback_naming_an_invoice_the_file_gave_none_of_its_money_is_a_conflict_whatever_its_amount(
    amount: str,
) -> None:
    """The file says guid-1 paid I-2 (20.00); a postback of guid-1 naming I-1 tells other money."""
    p = payment(S.APPROVED, [("A", "I-1", 3000, 0), ("A", "I-2", 2000, 2000)])
    pb = postback(amount=amount, invoice="I-1")
    decision = run(p, pb, told_by_the_file({"A/I-2": 2000}))
    assert (decision.outcome, decision.status, decision.record_as, decision.reason, decision.allocation) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        pb.identity,
        ReviewReason.CONFLICTING_POSTBACK,
        {},
    )


def test_a_postback_naming_no_invoice_retells_the_whole_payments_or_one_accounts_file_money() -> None:
    p = payment(S.APPROVED, [("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    whole = run(p, postback(amount="30.00"), told_by_the_file({"A/I-1": 3000}))
    assert (whole.outcome, whole.status) == (Outcome.DUPLICATE, S.APPROVED)
    told = told_by_the_file({"A/I-1": 1000, "A/I-2": 2000, "B/I-3": 4000})
    per_account = run(payment(S.APPROVED, THREE), postback(amount="30.00"), told)
    assert (per_account.outcome, per_account.status) == (Outcome.DUPLICATE, S.APPROVED)
    other = run(payment(S.APPROVED, THREE), postback(amount="35.00"), told)
    assert (other.outcome, other.reason) == (Outcome.REVIEW, ReviewReason.CONFLICTING_POSTBACK)


def test_a_postback_retells_the_money_a_person_applied_for_its_payment_id() -> None:
    p = payment(S.APPROVED, [("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    pb = postback(amount="30.00", invoice="I-1")
    decision = decide_postback(p, pb, {}, biller_guid=BILLER_GUID, reviewed={"guid-1": {"A/I-1": 3000}})
    assert (decision.outcome, decision.status) == (Outcome.DUPLICATE, S.APPROVED)
    # Another payment id's decision tells nothing of guid-1's money.
    other = decide_postback(p, pb, {}, biller_guid=BILLER_GUID, reviewed={"guid-2": {"A/I-1": 3000}})
    assert (other.outcome, other.reason) == (Outcome.REVIEW, ReviewReason.DUPLICATE_PAYMENT)


def test_the_money_of_the_payment_ids_other_postbacks_never_makes_a_postback_a_duplicate() -> None:
    """Invoice Cloud's postbacks of one payment id cover other invoices (one per invoice)."""
    p = payment(S.APPROVED, [("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    first = postback(amount="30.00", invoice="I-1")
    recorded = {
        first.identity: RecordedPostback(
            key=first.identity, postback=first, outcome=Outcome.APPLIED, reason=None, received_at=NOW,
            allocation={"A/I-1": 3000},
        )
    }  # fmt: skip
    decision = run(p, postback(amount="20.00", invoice="I-2"), recorded)
    assert (decision.outcome, decision.status, decision.allocation) == (Outcome.APPLIED, S.APPROVED, {1: 2000})


# ---- the smallest amounts -------------------------------------------------------------------------


def test_a_single_cent_is_money_like_any_other() -> None:
    decision = run(payment(partial=True), postback(amount="0.01", invoice="INV-1"))
    assert (decision.outcome, decision.allocation) == (Outcome.APPLIED, {0: 1})


def test_a_cent_left_on_an_invoice_is_still_unpaid() -> None:
    p = payment(S.APPROVED, [("A", "I-1", 3000, 2999), ("A", "I-2", 2000, 0)])
    decision = run(p, postback(amount="20.01"))
    assert (decision.outcome, decision.allocation) == (Outcome.APPLIED, {0: 1, 1: 2000})


# ---- notes ------------------------------------------------------------------------------------------


def test_paying_an_invoice_in_full_notes_nothing() -> None:
    assert run(payment(), postback()).notes == ()
    rest = payment(S.APPROVED, [("A", "I-1", 3000, 1000)], partial=True)
    decision = run(rest, postback(amount="20.00", invoice="I-1"))
    assert (decision.allocation, decision.notes) == ({0: 2000}, ())


def test_a_part_payment_reaching_the_minimum_is_not_below_it() -> None:
    p = Payment(
        payment_id="pay-1", sub="alice", status=S.PENDING,
        lines=(
            PaymentLine(
                account_number="A", invoice_number="I-1", due_cents=5000, allow_partial=True, minimum_cents=4000
            ),
        ),
        created_at=NOW, session_expires_at=NOW + timedelta(minutes=30),
    )  # fmt: skip
    decision = run(p, postback(amount="40.00", invoice="I-1"))
    assert (decision.allocation, decision.notes) == ({0: 4000}, ("PartialPaymentApplied",))


# ---- the payment afterwards, more -------------------------------------------------------------------


def test_a_bank_payment_takes_no_card_type_from_invoice_cloud() -> None:
    p = payment()
    pb = postback(CardType="Checking", PaymentTypeID="2")
    after = apply_decision(p, run(p, pb), pb, NOW)
    assert (after.payment_method, after.card_type) == ("ACH", None)


def test_money_applied_flags_nothing_for_review() -> None:
    p = payment()
    pb = postback()
    after = apply_decision(p, run(p, pb), pb, NOW)
    assert (after.status, after.review_reason, after.flagged_at) == (S.APPROVED, None, None)


def test_a_payment_already_under_review_keeps_when_and_why_it_was_flagged() -> None:
    flagged = NOW - timedelta(hours=2)
    p = payment(S.NEEDS_REVIEW, review_reason="unallocated_amount", flagged_at=flagged)
    pb = postback(amount="60.00")
    decision = run(p, pb)
    assert decision.outcome is Outcome.RECORDED
    after = apply_decision(p, decision, pb, NOW)
    assert (after.status, after.review_reason, after.flagged_at) == (S.NEEDS_REVIEW, "unallocated_amount", flagged)
