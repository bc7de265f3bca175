"""The payable rule of DESIGN §5 (``avocette.domain.billing``), pure: what a payer may still pay on an
invoice is its bill less the credits no billing file reflects yet, and which credits a billing file
reflects (exported to the biller, and the file made at least the settlement lag after that, or saying
its system posted that export), and an account's credit balance applied to its open invoices, oldest first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from avocette.domain.billing import Credit, Invoice, InvoiceRef, PostedThrough, account_payable, reflects

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
LAG = 24  # SETTLEMENT_LAG_HOURS


def credit(cents: int, **extra: object) -> Credit:
    return Credit(payment_id="pay-1", cents=cents, approved_at=NOW - timedelta(days=3), **extra)  # type: ignore[arg-type]


def invoice(billed: int = 5000, **extra: object) -> Invoice:
    return Invoice(
        account_number="A",
        invoice_number="I-1",
        billed_cents=billed,
        billed_as_of=NOW - timedelta(days=1),
        **extra,  # type: ignore[arg-type]
    )


def test_what_is_payable_is_the_bill_less_the_credits_no_billing_file_reflects_yet() -> None:
    credits = {"pay-1#a": credit(2000), "pay-1#b": credit(1000, reflected_as_of=NOW - timedelta(days=1))}
    assert invoice(credits=credits).payable_cents() == 3000
    assert invoice().payable_cents() == 5000


def test_an_invoice_paid_in_full_or_credited_above_its_bill_is_not_payable() -> None:
    assert invoice(credits={"pay-1#a": credit(5000)}).payable_cents() == 0
    assert invoice(billed=1000, credits={"pay-1#a": credit(2000)}).payable_cents() == 0


def test_a_closed_invoice_is_not_payable_whatever_its_bill() -> None:
    assert invoice(closed_at=NOW - timedelta(hours=1)).payable_cents() == 0


def test_a_credit_never_exported_is_reflected_by_no_billing_file() -> None:
    assert reflects(credit(1000), NOW + timedelta(days=365), LAG) is False


def test_a_billing_file_reflects_a_credit_once_made_more_than_the_settlement_lag_after_its_export() -> None:
    exported = credit(1000, exported_at=NOW)
    assert reflects(exported, NOW + timedelta(hours=1), LAG) is False
    assert reflects(exported, NOW + timedelta(hours=LAG), LAG) is False
    assert reflects(exported, NOW + timedelta(hours=LAG, seconds=1), LAG) is True
    assert reflects(exported, NOW + timedelta(seconds=1), 0) is True


def test_a_billing_file_takes_up_only_the_credits_it_reflects_that_no_earlier_file_did() -> None:
    as_of = NOW
    ready = credit(1000, exported_at=as_of - timedelta(hours=LAG + 1))
    credits = {
        "pay-1#ready": ready,
        "pay-1#taken-up": credit(
            1000, exported_at=as_of - timedelta(days=5), reflected_as_of=as_of - timedelta(days=3)
        ),
        "pay-1#recent": credit(1000, exported_at=as_of - timedelta(hours=1)),
        "pay-1#unexported": credit(1000),
    }
    assert invoice(credits=credits).credits_reflected_by(as_of, LAG) == {"pay-1#ready": ready}
    assert invoice(credits=credits).credits_reflected_by(as_of, LAG + 2) == {}


def test_a_billing_file_saying_what_its_system_posted_reflects_exactly_the_exports_it_posted() -> None:
    """A file that says "payments posted through" T reflects a credit exported before T even an hour
    later (no settlement lag to wait), and not one exported after T, however long ago."""
    as_of = NOW
    posted = credit(1000, exported_at=as_of - timedelta(hours=2))
    credits = {"pay-1#posted": posted, "pay-1#after": credit(1000, exported_at=as_of - timedelta(hours=1))}
    mark = PostedThrough(at=as_of - timedelta(hours=2))
    assert reflects(posted, as_of, LAG, mark) is True
    assert invoice(credits=credits).credits_reflected_by(as_of, LAG, mark) == {"pay-1#posted": posted}
    late = credit(1000, exported_at=as_of - timedelta(days=3))
    assert reflects(late, as_of, LAG, PostedThrough(at=as_of - timedelta(days=4))) is False
    assert (
        invoice(credits={"pay-1#late": late}).credits_reflected_by(as_of, LAG, PostedThrough(day=date(2026, 11, 1)))
        == {}
    )


def account_invoice(number: str, billed: int, due: date | None, **extra: object) -> Invoice:
    return Invoice(
        account_number="A",
        invoice_number=number,
        due_date=due,
        billed_cents=billed,
        billed_as_of=NOW - timedelta(days=1),
        **extra,  # type: ignore[arg-type]
    )


def ref(number: str, account: str = "A") -> InvoiceRef:
    return InvoiceRef(account_number=account, invoice_number=number)


def test_an_accounts_credit_lowers_its_oldest_open_invoices_first_and_only_its_open_credit_counts() -> None:
    """A 20.00 credit invoice on an account with a 15.00 bill due first and a 30.00 bill due later:
    the first is covered, the second lowered by 5.00; the closed credit and closed bill count for
    nothing, and nothing is payable on the credit invoice itself."""
    account = [
        account_invoice("I-2", 3000, date(2026, 11, 20)),
        account_invoice("C-1", -2000, None),
        account_invoice("I-1", 1500, date(2026, 11, 10)),
        account_invoice("C-0", -5000, date(2026, 10, 1), closed_at=NOW - timedelta(days=2)),
        account_invoice("I-0", 4000, date(2026, 10, 1), closed_at=NOW - timedelta(days=2)),
    ]
    owed = account_payable(account)
    assert owed.credit_cents == 2000
    assert dict(owed.applied) == {ref("I-1"): 1500, ref("I-2"): 500}
    assert dict(owed.payable) == {ref("I-1"): 0, ref("I-2"): 2500, ref("C-1"): 0}
    assert (owed.payable_cents(ref("I-2")), owed.payable_cents(ref("C-1")), owed.payable_cents(ref("I-0"))) == (
        2500,
        0,
        0,
    )
    assert (owed.applied_cents, owed.unused_cents, owed.total_cents) == (2000, 0, 2500)


def test_credit_no_bill_can_take_is_left_for_the_biller_to_carry() -> None:
    owed = account_payable([account_invoice("I-1", 1000, date(2026, 11, 10)), account_invoice("C-1", -2500, None)])
    assert (dict(owed.applied), dict(owed.payable)) == ({ref("I-1"): 1000}, {ref("I-1"): 0, ref("C-1"): 0})
    assert (owed.credit_cents, owed.unused_cents, owed.total_cents) == (2500, 1500, 0)


def test_the_invoices_of_two_accounts_are_refused() -> None:
    other = Invoice(account_number="B", invoice_number="I-9", billed_cents=1000, billed_as_of=NOW)
    with pytest.raises(ValueError) as refused:
        account_payable([account_invoice("I-1", 1000, None), other])
    assert str(refused.value) == "account_payable takes the invoices of one account"
