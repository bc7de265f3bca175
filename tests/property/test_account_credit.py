"""Properties of the payable rule with an account's credit balance (DESIGN §5, "the account's credit"):
:func:`avocette.domain.billing.account_payable` over generated accounts — bills, credit invoices,
closed invoices, payments the bill does not show yet, due dates that tie.

Safety: nothing is ever payable below zero, no invoice asks more than its own payable amount, and the
credit netted is never more than the account's credit. Conservation: what the account owes is its
invoices' payable amounts less its credit, exactly (the credit is used as far as the bills can take
it, the rest is left over), whatever order the invoices come in. Stability, which is why two payments
of one account at once cannot net the credit twice: paying at most what an invoice asks moves no
credit to another invoice. The stateful model (test_credit_model.py) runs the same rules through the
functions, with the store's conditions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from random import Random

from avocette.domain.billing import Credit, Invoice, account_payable, billing_order
from hypothesis import given
from hypothesis import strategies as st

AS_OF = datetime(2026, 11, 1, 6, tzinfo=UTC)
DUE_DATES = st.one_of(st.none(), st.sampled_from([date(2026, 11, 10), date(2026, 11, 20), date(2026, 12, 10)]))


@st.composite
def invoices(draw: st.DrawFn, number: int) -> Invoice:
    billed = draw(st.one_of(st.integers(-8000, -1), st.integers(0, 12000)))
    paid = draw(st.integers(0, max(0, billed))) if billed > 0 else 0
    credits = {"p#1": Credit(payment_id="p", cents=paid, approved_at=AS_OF, payment_guid="G")} if paid else {}
    return Invoice(
        account_number="A",
        invoice_number=f"I-{number:02d}",
        due_date=draw(DUE_DATES),
        billed_cents=billed,
        billed_as_of=AS_OF,
        closed_at=AS_OF if draw(st.integers(0, 9)) == 0 else None,
        credits=credits,
    )


@st.composite
def accounts(draw: st.DrawFn) -> list[Invoice]:
    count = draw(st.integers(0, 7))
    return [draw(invoices(number)) for number in range(count)]


def own_payable(invoice: Invoice) -> int:
    """What the invoice asks alone (no account credit); 0 for a credit invoice or a closed one."""
    return 0 if invoice.is_credit or invoice.closed_at else invoice.payable_cents()


@given(accounts())
def test_never_negative_never_above_the_invoice_never_more_credit_than_there_is(account: list[Invoice]) -> None:
    owed = account_payable(account)
    credit = sum(-i.billed_cents for i in account if i.is_credit and i.closed_at is None)
    assert owed.credit_cents == credit
    for invoice in account:
        payable, applied = owed.payable_cents(invoice.ref), owed.applied_to(invoice.ref)
        assert payable >= 0 and applied >= 0
        assert payable + applied == own_payable(invoice), invoice
    assert 0 <= owed.applied_cents <= credit
    assert owed.unused_cents >= 0


@given(accounts())
def test_the_account_owes_its_bills_less_its_credit_exactly(account: list[Invoice]) -> None:
    owed = account_payable(account)
    bills = sum(own_payable(invoice) for invoice in account)
    assert owed.total_cents == max(0, bills - owed.credit_cents)
    assert owed.applied_cents == min(owed.credit_cents, bills)
    # Credit is left over only when every bill is covered.
    assert owed.unused_cents == 0 or owed.total_cents == 0


@given(accounts(), st.randoms(use_true_random=False))
def test_the_oldest_invoices_take_the_credit_first_whatever_order_they_come_in(
    account: list[Invoice], random: Random
) -> None:
    owed = account_payable(account)
    shuffled = list(account)
    random.shuffle(shuffled)
    again = account_payable(shuffled)
    assert (again.applied, again.payable) == (owed.applied, owed.payable)
    # Along the billing order, once an invoice is not fully covered, no later one gets any credit.
    ordered = sorted((i for i in account if own_payable(i) > 0), key=billing_order)
    uncovered = False
    for invoice in ordered:
        if uncovered:
            assert owed.applied_to(invoice.ref) == 0
        uncovered = uncovered or owed.payable_cents(invoice.ref) > 0


@given(accounts(), st.integers(0, 100), st.integers(1, 10**6))
def test_paying_at_most_what_an_invoice_asks_moves_no_credit(account: list[Invoice], pick: int, amount: int) -> None:
    """A payment of x <= what invoice I asks lowers I's payable by exactly x and changes nothing else:
    the credit stays where it was, so two payments started at once on one account (on different
    invoices, each holding its own) each charge their part, and the credit is netted once."""
    owed = account_payable(account)
    payable = [i for i in account if owed.payable_cents(i.ref) > 0]
    if not payable:
        return
    invoice = payable[pick % len(payable)]
    x = 1 + amount % owed.payable_cents(invoice.ref)
    paid = replace(
        invoice, **{"credits": {**invoice.credits, "q#1": Credit(payment_id="q", cents=x, approved_at=AS_OF)}}
    )
    after = account_payable([paid if i.ref == invoice.ref else i for i in account])
    assert after.applied == owed.applied
    assert after.payable_cents(invoice.ref) == owed.payable_cents(invoice.ref) - x
    assert {r: c for r, c in after.payable.items() if r != invoice.ref} == {
        r: c for r, c in owed.payable.items() if r != invoice.ref
    }
    assert after.total_cents == owed.total_cents - x


@given(accounts(), st.integers(0, 100), st.integers(1, 10**6))
def test_paying_beyond_what_an_invoice_asks_would_net_its_credit_again_which_the_store_refuses(
    account: list[Invoice], pick: int, amount: int
) -> None:
    """Why the store keeps the account credit of each payment line in its condition: a payment above
    what the invoice asked (a second payment of it, approved late) would push the credit the first
    payment was lowered by off the invoice, onto another one or left over: netted a second time. The
    condition (``unpaidCents >= cents + accountCreditCents``) refuses exactly these, x + applied > unpaid,
    as it refuses any payment of an invoice paid already (duplicate_payment)."""
    owed = account_payable(account)
    covered = [i for i in account if owed.applied_to(i.ref) > 0]
    if not covered:
        return
    invoice = covered[pick % len(covered)]
    extra = 1 + amount % owed.applied_to(invoice.ref)
    x = owed.payable_cents(invoice.ref) + extra
    assert x + owed.applied_to(invoice.ref) > invoice.unpaid_cents  # what the store's condition refuses
    paid = replace(
        invoice, **{"credits": {**invoice.credits, "q#1": Credit(payment_id="q", cents=x, approved_at=AS_OF)}}
    )
    after = account_payable([paid if i.ref == invoice.ref else i for i in account])
    moved = owed.applied_to(invoice.ref) - after.applied_to(invoice.ref)
    assert moved == extra
    elsewhere = sum(after.applied_to(i.ref) - owed.applied_to(i.ref) for i in account if i.ref != invoice.ref)
    assert elsewhere + after.unused_cents - owed.unused_cents == moved
