"""The rules of DESIGN §6c: every row of the transition table, credit, allocation, reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.domain.postbacks import Outcome, ReviewReason, apply, decide
from avocette.invoicecloud.postback import Postback, parse_postback

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
BILLER_GUID = "3F1C2A4E-0000-4000-8000-00000000AAAA"
S = PaymentStatus


def payment(
    status: PaymentStatus = S.PENDING, lines: list[tuple[str, str, int, int]] | None = None, **extra: object
) -> Payment:
    """A payment of (account, invoice, due cents, paid cents) lines; one 50.00 invoice by default."""
    lines = lines or [("ACCT-1", "INV-1", 5000, 0)]
    return Payment(
        payment_id="pay-1",
        sub="alice",
        status=status,
        lines=tuple(
            PaymentLine(account_number=a, invoice_number=i, due_cents=due, paid_cents=paid) for a, i, due, paid in lines
        ),
        created_at=NOW - timedelta(minutes=5),
        session_expires_at=NOW + timedelta(minutes=25),
        **extra,  # type: ignore[arg-type]
    )


def postback(approved: bool = True, amount: str | None = "50.00", invoice: str = "", **fields: str) -> Postback:
    values = {"PaymentGUID": "guid-1", "Approved": "True" if approved else "False", "InvoiceNumber": invoice}
    if amount is not None:
        values["PaymentAmount"] = amount
    values.update(fields)
    return parse_postback(values)


def run(p: Payment, pb: Postback, *, includes_fee: bool = False):
    return decide(p, pb, amount_includes_fee=includes_fee, biller_guid=BILLER_GUID)


# ---- the transition table -----------------------------------------------------------------------


@pytest.mark.parametrize("start", [S.CREATED, S.PENDING, S.DECLINED, S.EXPIRED, S.FAILED])
def test_approved_and_reconcilable_ends_approved(start: PaymentStatus) -> None:
    decision = run(payment(start), postback())
    assert (decision.outcome, decision.status, decision.allocation) == (Outcome.APPLIED, S.APPROVED, {0: 5000})


@pytest.mark.parametrize("start", [S.CREATED, S.PENDING])
def test_declined_from_an_open_payment_ends_declined(start: PaymentStatus) -> None:
    decision = run(payment(start), postback(approved=False))
    assert (decision.outcome, decision.status, decision.allocation) == (Outcome.DECLINED, S.DECLINED, {})


@pytest.mark.parametrize("start", [S.DECLINED, S.EXPIRED, S.FAILED, S.APPROVED])
def test_declined_otherwise_stays(start: PaymentStatus) -> None:
    decision = run(payment(start), postback(approved=False))
    assert (decision.status, decision.allocation) == (start, {})


@pytest.mark.parametrize("start", [S.CREATED, S.PENDING, S.DECLINED, S.EXPIRED, S.FAILED, S.APPROVED])
def test_not_reconcilable_ends_needs_review_without_money(start: PaymentStatus) -> None:
    decision = run(payment(start), postback(amount="60.00"))
    assert (decision.outcome, decision.status, decision.reason) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        ReviewReason.AMOUNT_EXCEEDS_DUE,
    )
    assert decision.allocation == {}


@pytest.mark.parametrize("event", [postback(), postback(approved=False), postback(amount="99.00")])
def test_needs_review_is_sticky(event: Postback) -> None:
    decision = run(payment(S.NEEDS_REVIEW), event)
    assert (decision.outcome, decision.status, decision.allocation) == (Outcome.RECORDED, S.NEEDS_REVIEW, {})


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


# ---- credit ---------------------------------------------------------------------------------------


def test_credit_is_the_amount_when_it_excludes_the_fee() -> None:
    decision = run(payment(), postback(amount="50.00", ConvenienceFee="1.00"), includes_fee=False)
    assert decision.allocation == {0: 5000}


def test_credit_is_amount_less_fee_when_it_includes_the_fee() -> None:
    decision = run(payment(), postback(amount="51.00", ConvenienceFee="1.00"), includes_fee=True)
    assert decision.allocation == {0: 5000}
    assert (
        run(payment(), postback(amount="51.00", ConvenienceFee="1.00"), includes_fee=False).reason
        is ReviewReason.AMOUNT_EXCEEDS_DUE
    )


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00"])
def test_a_credit_of_nothing_is_for_review(amount: str) -> None:
    assert run(payment(), postback(amount=amount)).reason is ReviewReason.INVALID_AMOUNT


@pytest.mark.parametrize("amount", ["50", "50.00", "$50.00"])
def test_amount_forms_of_invoice_cloud(amount: str) -> None:
    assert run(payment(), postback(amount=amount)).allocation == {0: 5000}


def test_dollar_form_with_thousands() -> None:
    p = payment(lines=[("A", "I-1", 150000, 0)])
    assert run(p, postback(amount="$1,500.00")).allocation == {0: 150000}


# ---- allocation -----------------------------------------------------------------------------------

TWO = [("A", "I-1", 3000, 0), ("A", "I-2", 2000, 0)]


@pytest.mark.parametrize("named", ["", "I-1", "I-2"])
def test_credit_equal_to_everything_unpaid_pays_every_invoice_whatever_is_named(named: str) -> None:
    assert run(payment(lines=TWO), postback(amount="50.00", invoice=named)).allocation == {0: 3000, 1: 2000}


def test_named_invoice_gets_the_credit() -> None:
    assert run(payment(lines=TWO), postback(amount="20.00", invoice="I-2")).allocation == {1: 2000}


def test_partial_credit_on_a_named_invoice() -> None:
    decision = run(payment(lines=TWO), postback(amount="10.00", invoice="I-1"))
    assert (decision.status, decision.allocation) == (S.APPROVED, {0: 1000})


def test_one_unpaid_invoice_takes_an_unnamed_credit() -> None:
    p = payment(lines=[("A", "I-1", 3000, 3000), ("A", "I-2", 2000, 0)])
    assert run(p, postback(amount="20.00")).allocation == {1: 2000}


def test_unnamed_partial_on_two_invoices_is_unallocated() -> None:
    decision = run(payment(lines=TWO), postback(amount="25.00"))
    assert (decision.status, decision.reason, decision.allocation) == (
        S.NEEDS_REVIEW,
        ReviewReason.UNALLOCATED_AMOUNT,
        {},
    )


def test_per_account_postback_naming_the_first_invoice_pays_that_account() -> None:
    lines = [("A", "A-1", 1000, 0), ("A", "A-2", 2000, 0), ("B", "B-1", 4000, 0)]
    assert run(payment(lines=lines), postback(amount="30.00", invoice="A-1")).allocation == {0: 1000, 1: 2000}


def test_per_account_postback_naming_nothing_pays_the_only_account_with_that_total() -> None:
    lines = [("A", "A-1", 1000, 0), ("A", "A-2", 2000, 0), ("B", "B-1", 4000, 0)]
    assert run(payment(lines=lines), postback(amount="40.00")).allocation == {2: 4000}


def test_per_account_totals_that_tie_are_unallocated() -> None:
    lines = [("A", "A-1", 1000, 0), ("B", "B-1", 1000, 0), ("C", "C-1", 500, 0)]
    assert run(payment(lines=lines), postback(amount="10.00")).reason is ReviewReason.UNALLOCATED_AMOUNT


def test_same_invoice_number_on_two_accounts_is_ambiguous_when_named() -> None:
    lines = [("A", "INV-1", 1000, 0), ("B", "INV-1", 2000, 0)]
    assert run(payment(lines=lines), postback(amount="10.00", invoice="INV-1")).reason is ReviewReason.AMBIGUOUS_INVOICE


# ---- reconcilable -----------------------------------------------------------------------------------


def test_named_invoice_outside_the_payment_is_for_review() -> None:
    assert run(payment(lines=TWO), postback(amount="20.00", invoice="I-9")).reason is ReviewReason.UNKNOWN_INVOICE


def test_credit_above_the_named_invoice_due_is_for_review() -> None:
    assert run(payment(lines=TWO), postback(amount="35.00", invoice="I-2")).reason is ReviewReason.AMOUNT_EXCEEDS_DUE


def test_biller_reference_must_be_the_payment_id_when_sent() -> None:
    assert run(payment(), postback(BillerReference="pay-1")).status is S.APPROVED
    assert run(payment(), postback(BillerReference="pay-2")).reason is ReviewReason.BILLER_REFERENCE_MISMATCH


def test_biller_guid_must_be_ours_when_sent() -> None:
    assert run(payment(), postback(BillerGUID=BILLER_GUID.lower())).status is S.APPROVED
    assert run(payment(), postback(BillerGUID="someone-else")).reason is ReviewReason.BILLER_GUID_MISMATCH


def test_partial_payment_when_not_allowed_is_applied_and_noted() -> None:
    p = Payment(
        payment_id="pay-1", sub="alice", status=S.PENDING,
        lines=(
            PaymentLine(
                account_number="A", invoice_number="I-1", due_cents=5000, allow_partial=False, minimum_cents=4000
            ),
        ),
        created_at=NOW, session_expires_at=NOW + timedelta(minutes=30),
    )  # fmt: skip
    decision = run(p, postback(amount="30.00", invoice="I-1"))
    assert decision.allocation == {0: 3000}
    assert set(decision.notes) == {"PartialPaymentNotAllowed", "BelowMinimumAmountDue"}


def test_invalid_postbacks_are_not_decided() -> None:
    with pytest.raises(ValueError):
        run(payment(), parse_postback({"Approved": "True", "PaymentAmount": "1.00"}))


# ---- the payment afterwards -------------------------------------------------------------------------


def test_apply_records_amounts_ids_fee_method_and_completion() -> None:
    p = payment(lines=TWO)
    pb = postback(amount="50.00", ConvenienceFee="2.00", CardType="Visa")
    after = apply(p, run(p, pb), pb, NOW)
    assert after.status is S.APPROVED
    assert [line.paid_cents for line in after.lines] == [3000, 2000]
    assert after.ic_payment_ids == ("guid-1",)
    assert (after.convenience_fee_cents, after.payment_method, after.card_type) == (200, "CARD", "Visa")
    assert (after.completed_at, after.version) == (NOW, p.version + 1)


def test_apply_an_ach_approval() -> None:
    p = payment()
    pb = postback(CardType="")
    assert apply(p, run(p, pb), pb, NOW).payment_method == "ACH"


def test_apply_review_keeps_money_untouched_and_names_the_reason() -> None:
    p = payment(lines=TWO)
    pb = postback(amount="25.00")
    after = apply(p, run(p, pb), pb, NOW)
    assert after.status is S.NEEDS_REVIEW and after.review_reason == "unallocated_amount"
    assert after.amount_paid_cents == 0 and after.ic_payment_ids == ()
    assert after.completed_at == NOW


def test_apply_decline_keeps_the_session_open_and_not_final() -> None:
    p = payment()
    pb = postback(approved=False)
    after = apply(p, run(p, pb), pb, NOW)
    assert after.status is S.DECLINED and after.completed_at is None
    assert not after.is_final(NOW)
    assert after.is_final(after.session_expires_at + timedelta(seconds=1))
