"""The kinds of reversal (DESIGN §6d): a REFUND takes back like a void; a CHARGEBACK_REVERSAL gives
back what its chargeback took, never more, and never onto an invoice paid again meanwhile; a kind
the payment's method cannot have is a mismatch for review."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from avocette.domain.billing import Credit, CreditKind
from avocette.domain.payments import Payment, PaymentStatus
from avocette.domain.reconciliation import PaymentFileRow, ReversalOutcome, RowKind, plan_reversal

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


# ---- what a chargeback reversal gives back, and to which credits (§6d) ------------------------------


def approval(cents: int, guid: str, days_ago: int, reversed_cents: int) -> Credit:
    """A payment credit of pay-1 on I-1, approved ``days_ago`` days before NOW, ``reversed_cents`` taken back."""
    return Credit(
        payment_id="pay-1",
        cents=cents,
        approved_at=NOW - timedelta(days=days_ago),
        payment_guid=guid,
        reversed_cents=reversed_cents,
    )


def taking(kind: CreditKind, cents: int, guid: str, reverses: str) -> Credit:
    """A reversal's own credit on I-1 (``kind`` VOID, CHARGEBACK, …): ``cents`` taken from ``reverses``."""
    return Credit(payment_id="pay-1", cents=-cents, approved_at=NOW, kind=kind, payment_guid=guid, reverses=reverses)


def reversal_of(cents: int, guid: str = "G-1") -> PaymentFileRow:
    return row(RowKind.CHARGEBACK_REVERSAL, cents=cents, line=3, payment_guid=guid)


def test_a_chargeback_reversal_without_the_invoice_goes_to_review() -> None:
    plan = plan_reversal(payment(paid=(3000, 0)), reversal_of(1000), None, NOW)
    assert (plan.outcome, plan.reason, plan.credits) == (ReversalOutcome.REVIEW, "reversal_without_credit", ())


def test_a_chargeback_reversal_gives_back_newest_credit_first_and_exactly_its_amount() -> None:
    """Two credits of one payment id, each 10.00 charged back; giving back 15.00 refills the newest
    (pay-1#a, though its key sorts first) in full and the older one by the rest, and nothing more. Its
    own credit is keyed by the payment and the reversal, as a taking reversal's is, and carries the
    account credit the payment line was lowered by (the store's condition on what is unpaid)."""
    credits = {
        "pay-1#a": approval(2000, "G-1", days_ago=1, reversed_cents=1000),
        "pay-1#b": approval(2000, "G-1", days_ago=2, reversed_cents=1000),
        "pay-1#cb-a": taking("CHARGEBACK", 1000, "G-1", "pay-1#a"),
        "pay-1#cb-b": taking("CHARGEBACK", 1000, "G-1", "pay-1#b"),
    }
    p = payment(paid=(2000, 0))
    p = replace(p, lines=(replace(p.lines[0], account_credit_cents=500), p.lines[1]))

    plan = plan_reversal(p, reversal_of(1500), invoice(*credits.items()), NOW)

    assert plan.outcome is ReversalOutcome.REVERSED
    (back,) = plan.credits
    assert (dict(back.taken), dict(back.reversed_after)) == (
        {"pay-1#a": 1000, "pay-1#b": 500},
        {"pay-1#a": 0, "pay-1#b": 500},
    )
    assert (back.restores, back.cents, sum(back.taken.values())) == (True, 1500, 1500)
    assert back.credit_key == f"pay-1#R{plan.identity[:23]}"
    assert (back.account_credit_cents, back.needs_unpaid_cents) == (500, 2000)


def test_a_one_cent_chargeback_is_given_back() -> None:
    credits = {
        "pay-1#a": approval(3000, "G-1", days_ago=1, reversed_cents=1),
        "pay-1#cb": taking("CHARGEBACK", 1, "G-1", "pay-1#a"),
    }
    plan = plan_reversal(payment(paid=(2999, 0)), reversal_of(1), invoice(*credits.items()), NOW)
    assert plan.outcome is ReversalOutcome.REVERSED
    assert dict(plan.credits[0].taken) == {"pay-1#a": 1}


def test_a_chargeback_reversal_gives_back_only_to_its_own_payment_ids_charged_back_credits() -> None:
    """pay-1 paid I-1 twice: G-1's credit was charged back 10.00, G-2's (newer) voided 10.00. G-1's
    reversal refills G-1's credit, not G-2's newer one; a "reversal" of G-2's void is no chargeback
    reversal: G-1's chargeback is not G-2's to give back."""
    credits = {
        "pay-1#g1": approval(1500, "G-1", days_ago=2, reversed_cents=1000),
        "pay-1#cb1": taking("CHARGEBACK", 1000, "G-1", "pay-1#g1"),
        "pay-1#g2": approval(1500, "G-2", days_ago=1, reversed_cents=1000),
        "pay-1#v2": taking("VOID", 1000, "G-2", "pay-1#g2"),
    }
    p = payment(paid=(1000, 0))

    own = plan_reversal(p, reversal_of(1000, "G-1"), invoice(*credits.items()), NOW)
    assert own.outcome is ReversalOutcome.REVERSED
    assert dict(own.credits[0].taken) == {"pay-1#g1": 1000}

    other = plan_reversal(p, reversal_of(1000, "G-2"), invoice(*credits.items()), NOW)
    assert (other.outcome, other.reason, other.credits) == (ReversalOutcome.REVIEW, "reversal_without_credit", ())


def test_what_a_chargeback_reversal_gave_back_is_never_given_back_again() -> None:
    """10.00 charged back and given back, 5.00 voided: a second chargeback reversal of 5.00 finds
    nothing of the chargeback left to give back (the void's 5.00 stays taken), and goes to review."""
    credits = {
        "pay-1#a": approval(3000, "G-1", days_ago=1, reversed_cents=500),
        "pay-1#cb": taking("CHARGEBACK", 1000, "G-1", "pay-1#a"),
        "pay-1#v": taking("VOID", 500, "G-1", "pay-1#a"),
        "pay-1#back": Credit(
            payment_id="pay-1", cents=1000, approved_at=NOW, kind="CHARGEBACK_REVERSAL", payment_guid="G-1"
        ),
    }
    plan = plan_reversal(payment(paid=(2500, 0)), reversal_of(500), invoice(*credits.items()), NOW)
    assert (plan.outcome, plan.reason, plan.credits) == (ReversalOutcome.REVIEW, "reversal_without_credit", ())


def test_credits_approved_at_one_moment_are_given_back_in_one_order_whatever_order_they_are_listed_in() -> None:
    """A replayed reversal must give back to the same credits: a tie is broken by the credits' keys."""
    a = approval(2000, "G-1", days_ago=1, reversed_cents=1000)
    b = approval(2000, "G-1", days_ago=1, reversed_cents=1000)
    chargebacks = [
        ("pay-1#cb-a", taking("CHARGEBACK", 1000, "G-1", "pay-1#a")),
        ("pay-1#cb-b", taking("CHARGEBACK", 1000, "G-1", "pay-1#b")),
    ]
    given = [
        dict(
            plan_reversal(payment(paid=(2000, 0)), reversal_of(1500), invoice(*listed, *chargebacks), NOW)
            .credits[0]
            .taken
        )
        for listed in ([("pay-1#a", a), ("pay-1#b", b)], [("pay-1#b", b), ("pay-1#a", a)])
    ]
    assert given == [{"pay-1#b": 1000, "pay-1#a": 500}] * 2
