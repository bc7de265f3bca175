"""What a payer reads about a payment: the short receipt reference, the approved message with its fee,
the view's time zone and way back to Invoice Cloud, and times in the biller's zone in emails."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from avocette.api.payments import PaymentView
from avocette.clock import local_date, local_time
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus, receipt_reference
from avocette.errors import ConfigurationError
from avocette.mail.templates import reversal_email
from avocette.settings.portal import PortalSettings

NOW = datetime(2026, 11, 25, 20, 4, 30, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
REFERENCE = re.compile(r"^AVC-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")  # Crockford: no I, L, O, U


def payment(status: PaymentStatus = PaymentStatus.PENDING, **extra: object) -> Payment:
    return Payment(
        payment_id="3f8e2a5c-1d4b-4c6e-9a7f-0b1c2d3e4f50",
        sub="alice",
        status=status,
        lines=(PaymentLine(account_number="ACCT-1", invoice_number="INV-1", due_cents=15509, paid_cents=0),),
        created_at=NOW - timedelta(minutes=5),
        session_expires_at=NOW + timedelta(minutes=25),
        payment_url="https://ic.example.com/cloudpayments/s-1",
        **extra,
    )


def view(p: Payment, now: datetime = NOW) -> PaymentView:
    return PaymentView.of(p, biller_name="Avocette Utilities", now=now, biller_time_zone="America/Chicago")


# ---- the receipt reference -----------------------------------------------------------------------


def test_the_receipt_reference_is_short_unambiguous_and_the_same_for_the_same_payment() -> None:
    ids = [f"00000000-0000-4000-8000-{n:012x}" for n in range(2000)]
    references = [receipt_reference(payment_id) for payment_id in ids]
    assert all(REFERENCE.match(reference) for reference in references), references[:5]
    assert references == [receipt_reference(payment_id) for payment_id in ids]
    assert len(set(references)) == len(references)
    assert receipt_reference("3f8e2a5c-1d4b-4c6e-9a7f-0b1c2d3e4f50") == receipt_reference(
        "3f8e2a5c-1d4b-4c6e-9a7f-0b1c2d3e4f50"
    )


# ---- the payment view ------------------------------------------------------------------------------


def test_the_view_carries_the_reference_the_zone_and_while_open_the_way_back() -> None:
    answer = view(payment()).model_dump(mode="json", by_alias=True)
    assert answer["receiptReference"] == receipt_reference(answer["paymentId"])
    assert answer["billerTimeZone"] == "America/Chicago"
    assert answer["paymentUrl"] == "https://ic.example.com/cloudpayments/s-1"
    # held through the session and its grace (15 minutes by default)
    assert answer["invoicesHeldUntil"] == "2026-11-25T20:44:30Z"
    assert answer["createdAt"].endswith("Z")  # the API keeps UTC


def test_a_declined_payment_with_its_session_open_may_be_continued() -> None:
    answer = view(payment(PaymentStatus.DECLINED)).model_dump(by_alias=True, exclude_none=True)
    assert answer["paymentUrl"] == "https://ic.example.com/cloudpayments/s-1"


@pytest.mark.parametrize(
    ("status", "now", "url", "held"),
    [
        (PaymentStatus.PENDING, NOW + timedelta(minutes=26), False, True),  # session over, grace running
        (PaymentStatus.APPROVED, NOW, False, False),
        (PaymentStatus.EXPIRED, NOW, False, False),
        (PaymentStatus.DECLINED, NOW + timedelta(minutes=26), False, False),  # final for the portal
    ],
)
def test_no_way_back_once_the_session_is_over_and_no_hold_once_final(
    status: PaymentStatus, now: datetime, url: bool, held: bool
) -> None:
    answer = view(payment(status), now).model_dump(by_alias=True, exclude_none=True)
    assert ("paymentUrl" in answer) is url
    assert ("invoicesHeldUntil" in answer) is held


def test_the_approved_message_names_the_total_charged_with_the_fee() -> None:
    paid = replace(
        payment(PaymentStatus.APPROVED, convenience_fee_cents=200, completed_at=NOW),
        lines=(PaymentLine(account_number="ACCT-1", invoice_number="INV-1", due_cents=15509, paid_cents=15509),),
    )
    assert view(paid).status_message == "Your payment of $157.09 (including a $2.00 fee) was approved. Thank you!"
    no_fee = replace(paid, convenience_fee_cents=0)
    assert view(no_fee).status_message == "Your payment of $155.09 was approved. Thank you!"
    part = replace(
        paid,
        lines=(*paid.lines, PaymentLine(account_number="ACCT-1", invoice_number="INV-2", due_cents=1000, paid_cents=0)),
    )
    assert view(part).status_message == (
        "Your payment of $157.09 (including a $2.00 fee) was approved. Invoices you did not pay remain open on "
        "your account."
    )


# ---- times in the biller's zone ------------------------------------------------------------------------


def test_times_for_payers_are_local_with_their_zone() -> None:
    assert local_time(NOW, NEW_YORK) == "Nov 25, 2026, 3:04 PM EST"
    assert local_time(datetime(2026, 7, 4, 16, 0, tzinfo=UTC), NEW_YORK) == "Jul 4, 2026, 12:00 PM EDT"
    assert local_time(datetime(2026, 11, 26, 4, 59, tzinfo=UTC), NEW_YORK) == "Nov 25, 2026, 11:59 PM EST"
    assert local_date(datetime(2026, 11, 26, 4, 59, tzinfo=UTC), NEW_YORK) == "November 25, 2026"


def test_the_reversal_email_says_when_the_payment_was_made() -> None:
    _, body = reversal_email(
        biller_name="Gulf Water",
        kind="VOID",
        amount_cents=7550,
        invoices=[("ACCT-1", "INV-1", 7550)],
        payment_reference="AVC-7KQ4-M2XD",
        occurred="November 26, 2026",
        portal_url=None,
        paid_at="Nov 25, 2026, 3:04 PM EST",
    )
    assert (
        "On November 26, 2026, your payment of $75.50 made on Nov 25, 2026, 3:04 PM EST to Gulf Water "
        "(reference AVC-7KQ4-M2XD) was voided" in body
    )


# ---- BILLER_TIME_ZONE ------------------------------------------------------------------------------------


def test_biller_time_zone_defaults_to_eastern_and_is_checked() -> None:
    assert PortalSettings.from_environment({"BILLER_NAME": "B"}).biller_time_zone == "America/New_York"
    chosen = PortalSettings.from_environment({"BILLER_NAME": "B", "BILLER_TIME_ZONE": "America/Denver"})
    assert chosen.time_zone == ZoneInfo("America/Denver")
    with pytest.raises(ConfigurationError, match="BILLER_TIME_ZONE"):
        PortalSettings.from_environment({"BILLER_NAME": "B", "BILLER_TIME_ZONE": "Mars/Olympus_Mons"})
