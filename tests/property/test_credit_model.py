"""The model of the money rules (test_payment_model.py), run over households whose accounts carry a
credit balance (DESIGN §5, "the account's credit"): a credit invoice, billed below zero, smaller than
one bill, spread over several, or larger than them all.

Every rule of the model plays as there — payments started by either payer, paid, declined, paid in
part, left to expire and paid late, paid twice from two pages, postbacks lost, duplicated, reordered,
forged, reversals, reviews settled by ops, billing files that list the credit again because the biller
has not applied it yet — and every invariant and the conservation of the books must still hold. On
top, after every step:

- never charged more than due net of the credit, and the credit never used twice: on each account,
  what its bills still ask (billed, less the payments the biller's files do not show yet) covers its
  credit, so the payments credited on the account are at most its bills less its credit;
- a payment asks for what the portal showed: each new payment line's due is what GET /accounts offered
  for that invoice the moment before, with the credit it was lowered by.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from avocette.domain.billing import InvoiceRef, account_payable
from avocette.store import billing
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, run_state_machine_as_test

from tests.property import test_payment_model as model
from tests.property.test_payment_model import MODES, STATS, Household, PaymentModel, World, households
from tests.property.test_payment_model import world as world  # noqa: PLC0414 - the model's fixture, here too

EXAMPLES = int(os.environ.get("CREDIT_MODEL_EXAMPLES", "400"))


@st.composite
def households_with_credit(draw: st.DrawFn) -> Household:
    """The model's household, with a credit invoice on one account or both: smaller than its first
    bill, spread over both bills, or larger than them all (a credit left over)."""
    household = draw(households())
    bills = list(household.bills)
    credited = draw(st.sampled_from([household.accounts[:1], household.accounts[1:], household.accounts]))
    for account in credited:
        own = [cents for a, _, cents, _ in household.bills if a == account]
        size = draw(st.sampled_from(["within a bill", "within a bill", "over both bills", "more than both"]))
        if size == "within a bill":  # less than the smaller bill: whichever is oldest keeps something to pay
            cents = draw(st.integers(1, min(own) - 1))
        elif size == "over both bills":
            cents = draw(st.integers(min(own), sum(own)))
        else:  # the bills covered, and credit left over
            cents = draw(st.integers(sum(own) + 1, sum(own) + 2000))
        numbers = {number for a, number, _, _ in bills if a == account}
        number = next(f"CR{n}" for n in range(10) if f"CR{n}" not in numbers)
        # After the four bills: the model's payers pick among the first four, which are payable.
        bills.append((account, number, -cents, False))
    return Household(tuple(bills))


class CreditModel(PaymentModel):
    """The payment model over households with credit balances."""

    @initialize(mode=MODES, household=households_with_credit())
    def setup(self, mode: dict[str, Any], household: Household) -> None:
        super().setup(mode, household)
        self.original = dict(household.billed)
        STATS["credit household"] += 1

    def _start(self, user: str, refs: list[InvoiceRef]) -> str | None:
        offered = {ref: self._owed(ref.account_number) for ref in refs}
        payment_id = super()._start(user, refs)
        if payment_id is None:
            return None
        item = self.fake.get_item(
            TableName=model.TABLE, Key={"PK": {"S": f"PAYMENT#{payment_id}"}, "SK": {"S": "PAYMENT"}}
        )
        for line in item["Item"]["lines"]["L"]:
            fields = line["M"]
            ref = InvoiceRef(account_number=fields["accountNumber"]["S"], invoice_number=fields["invoiceNumber"]["S"])
            due = int(fields["dueCents"]["N"])
            netted = int(fields.get("accountCreditCents", {"N": "0"})["N"])
            owed = offered[ref]
            assert (due, netted) == (owed.payable_cents(ref), owed.applied_to(ref)), (
                f"{payment_id}: {ref} asks {due} (credit {netted}), the portal showed {owed.payable_cents(ref)} "
                f"(credit {owed.applied_to(ref)})"
            )
            STATS["credit netted from a payment line" if netted else "payment line without credit"] += 1
        return payment_id

    def _owed(self, account: str) -> Any:
        return account_payable(billing.list_invoices(account))

    @invariant()
    def credit_is_netted_once(self) -> None:
        for account in self.household.accounts:
            invoices = billing.list_invoices(account)
            credit = sum(-i.billed_cents for i in invoices if i.is_credit)
            bills = [i for i in invoices if not i.is_credit]
            original = sum(self.original[i.ref] for i in bills)
            still_asked = sum(i.unpaid_cents for i in bills)
            assert still_asked >= min(credit, original), (
                f"{account}: its bills ({original}) still ask {still_asked}, less than its credit {credit}: "
                f"payments took {original - still_asked}, more than the {max(0, original - credit)} due net of it"
            )
            owed = account_payable(invoices)
            assert owed.total_cents == max(0, still_asked - credit) or any(i.unpaid_cents < 0 for i in bills)


MUST_HAPPEN = (
    "credit household",
    "start created",
    "credit netted from a payment line",
    "start refused invoice_not_payable",
    "postback APPLIED",
    "review reason duplicate_payment",
    "billing files",
    "conservation: balanced",
    "books closed",
)


@pytest.mark.model
def test_a_credit_is_never_netted_twice_in_any_sequence(world: World) -> None:
    CreditModel.world = world
    STATS.clear()
    started = time.monotonic()
    run_state_machine_as_test(
        CreditModel,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=model.STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
            database=None,
        ),
    )
    figures = {"sequences": EXAMPLES, "seconds": round(time.monotonic() - started, 1), "events": dict(STATS)}
    missing = [event for event in MUST_HAPPEN if not any(name.startswith(event) for name in STATS)]
    assert EXAMPLES < 400 or not missing, f"the credit model never did {missing}: {figures}"
