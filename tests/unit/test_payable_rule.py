"""The payable rule of DESIGN §5 (``avocette.domain.billing``), pure: what a payer may still pay on an
invoice is its bill less the credits no billing file reflects yet, and which credits a billing file
reflects (exported to the biller, and the file made at least the settlement lag after that)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from avocette.domain.billing import Credit, Invoice, reflects

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
