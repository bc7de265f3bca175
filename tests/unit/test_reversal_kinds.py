"""The kinds of reversal (DESIGN §6d): a REFUND takes back like a void; a CHARGEBACK_REVERSAL gives
back what its chargeback took, never more, and never onto an invoice paid again meanwhile; a kind
the payment's method cannot have is a mismatch for review."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from avocette.domain.billing import Credit
from avocette.domain.payments import Payment, PaymentStatus
from avocette.domain.reconciliation import ReversalOutcome, RowKind, plan_reversal

from tests.unit.test_reconciliation_rules import credit, invoice, payment, row

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
S = PaymentStatus


def charged_back(cents: int, *, method: str | None = "CARD") -> tuple[Payment, dict[str, Credit]]:
    """Payment pay-1 (30.00 on I-1, 20.00 on I-2) with ``cents`` of I-1 charged back, and I-1's credits."""
    p = replace(payment(paid=(3000, 0)), **{"payment_method": method})
    credits = {"pay-1#a": credit()}
    plan = plan_reversal(p, row(RowKind.CHARGEBACK, cents=cents, reason_code="4837"), invoice(*credits.items()), NOW)
    assert plan.outcome is ReversalOutcome.REVERSED
    (taken,) = plan.credits
    for key, after in taken.reversed_after.items():
        credits[key] = replace(credits[key], **{"reversed_cents": after})
    credits[taken.credit_key] = Credit(
        payment_id="pay-1", cents=-cents, approved_at=NOW, kind="CHARGEBACK", payment_guid="G-1", reverses="pay-1#a"
    )
    return plan.after, credits


def test_a_refund_takes_money_back_as_a_void_does() -> None:
    plan = plan_reversal(payment(paid=(3000, 0)), row(RowKind.REFUND), invoice(("pay-1#a", credit())), NOW)
    assert (plan.outcome, plan.after.status, plan.after.reversed_cents) == (ReversalOutcome.REVERSED, S.REVERSED, 3000)
    assert [r.kind for r in plan.after.reversals] == ["REFUND"]


def test_a_chargeback_reversal_gives_back_what_the_chargeback_took_and_the_payment_counts_again() -> None:
    reversed_, credits = charged_back(3000)
    assert reversed_.status is S.REVERSED

    plan = plan_reversal(reversed_, row(RowKind.CHARGEBACK_REVERSAL, line=3), invoice(*credits.items()), NOW)

    assert plan.outcome is ReversalOutcome.REVERSED
    assert (plan.after.status, plan.after.amount_paid_cents, plan.after.reversed_cents) == (S.APPROVED, 3000, 0)
    (back,) = plan.credits
    assert (back.restores, back.cents, dict(back.taken), dict(back.reversed_after)) == (
        True,
        3000,
        {"pay-1#a": 3000},
        {"pay-1#a": 0},
    )
    assert [r.kind for r in plan.after.reversals] == ["CHARGEBACK", "CHARGEBACK_REVERSAL"]


def test_a_part_chargeback_reversal_gives_back_part_and_no_more_than_was_charged_back() -> None:
    approved, credits = charged_back(1000)
    part = plan_reversal(approved, row(RowKind.CHARGEBACK_REVERSAL, cents=400, line=3), invoice(*credits.items()), NOW)
    assert (part.after.status, part.after.amount_paid_cents, part.after.reversed_cents) == (S.APPROVED, 2400, 600)
    more = plan_reversal(approved, row(RowKind.CHARGEBACK_REVERSAL, cents=1001, line=3), invoice(*credits.items()), NOW)
    assert (more.outcome, more.reason, more.credits) == (ReversalOutcome.REVIEW, "reversal_without_credit", ())


def test_a_chargeback_reversal_with_nothing_charged_back_goes_to_review() -> None:
    voided = plan_reversal(payment(paid=(3000, 0)), row(RowKind.VOID, cents=1000), invoice(("pay-1#a", credit())), NOW)
    credits = {"pay-1#a": credit(reversed_cents=1000)}
    plan = plan_reversal(
        voided.after, row(RowKind.CHARGEBACK_REVERSAL, cents=1000, line=3), invoice(*credits.items()), NOW
    )
    assert (plan.outcome, plan.after.status, plan.reason) == (
        ReversalOutcome.REVIEW,
        S.NEEDS_REVIEW,
        "reversal_without_credit",
    )


def test_a_chargeback_reversal_the_store_refused_for_an_invoice_paid_again_goes_to_review() -> None:
    reversed_, credits = charged_back(3000)
    plan = plan_reversal(
        reversed_, row(RowKind.CHARGEBACK_REVERSAL, line=3), invoice(*credits.items()), NOW, over_credit_refused=True
    )
    assert (plan.outcome, plan.after.status, plan.reason, plan.credits) == (
        ReversalOutcome.REVIEW,
        S.NEEDS_REVIEW,
        "chargeback_reversal_paid_again",
        (),
    )


@pytest.mark.parametrize(
    ("method", "kind", "outcome"),
    [
        ("CARD", RowKind.ACH_RETURN, ReversalOutcome.REVIEW),
        ("ACH", RowKind.CHARGEBACK, ReversalOutcome.REVIEW),
        ("ACH", RowKind.ACH_RETURN, ReversalOutcome.REVERSED),
        ("CARD", RowKind.CHARGEBACK, ReversalOutcome.REVERSED),
        ("CARD", RowKind.VOID, ReversalOutcome.REVERSED),
        ("ACH", RowKind.REFUND, ReversalOutcome.REVERSED),
        (None, RowKind.ACH_RETURN, ReversalOutcome.REVERSED),
        (None, RowKind.CHARGEBACK, ReversalOutcome.REVERSED),
    ],
)
def test_a_reversal_kind_the_payment_method_cannot_have_is_a_mismatch(
    method: str | None, kind: RowKind, outcome: ReversalOutcome
) -> None:
    p = replace(payment(paid=(3000, 0)), **{"payment_method": method})
    plan = plan_reversal(p, row(kind), invoice(("pay-1#a", credit())), NOW)
    assert plan.outcome is outcome
    if outcome is ReversalOutcome.REVIEW:
        assert (plan.reason, plan.credits, plan.after.reversals) == ("reversal_kind_contradicts_method", (), ())


def test_a_chargeback_reversal_of_an_ach_payment_is_a_mismatch() -> None:
    reversed_, credits = charged_back(3000, method=None)
    ach = replace(reversed_, **{"payment_method": "ACH"})
    plan = plan_reversal(ach, row(RowKind.CHARGEBACK_REVERSAL, line=3), invoice(*credits.items()), NOW)
    assert (plan.outcome, plan.reason) == (ReversalOutcome.REVIEW, "reversal_kind_contradicts_method")
