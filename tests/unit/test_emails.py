"""The email templates: subjects and plain-text bodies from plain values, amounts from integer cents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from avocette.mail.templates import REVERSAL_KINDS, registration_email, reversal_email, security_notice

PORTAL = "https://pay.example.com/portal"


def reversal(**changes: Any) -> tuple[str, str]:
    values: dict[str, Any] = {
        "biller_name": "Gulf Water",
        "kind": "VOID",
        "amount_cents": 7550,
        "invoices": [("ACCT-1", "INV-1", 5000), ("ACCT-1", "INV-2", 2550)],
        "payment_reference": "PAY-4417",
        "occurred": "November 12, 2026",
        "portal_url": PORTAL,
    }
    values.update(changes)
    return reversal_email(**values)


# ---- reversals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subject", "headline", "words"),
    [
        ("VOID", "Your Gulf Water payment was voided", "Your payment was voided.", "was voided"),
        (
            "ACH_RETURN",
            "Your bank returned your Gulf Water payment",
            "Your bank returned your payment.",
            "your bank returned your payment of $75.50",
        ),
        (
            "CHARGEBACK",
            "Your Gulf Water card payment was disputed (chargeback)",
            "Your card payment was disputed (chargeback).",
            "$75.50 was returned to your card",
        ),
    ],
)
def test_each_kind_says_what_happened_in_the_payers_words(kind: str, subject: str, headline: str, words: str) -> None:
    got_subject, body = reversal(kind=kind)
    assert got_subject == subject
    assert body.startswith(f"Hello,\n\n{headline}\n\n")
    assert words in body
    assert "On November 12, 2026, " in body and "(reference PAY-4417)" in body and "Gulf Water" in body
    assert "$75.50" in body


def test_the_kinds_are_the_five_reversals() -> None:
    assert frozenset({"VOID", "REFUND", "ACH_RETURN", "CHARGEBACK", "CHARGEBACK_REVERSAL"}) == REVERSAL_KINDS
    with pytest.raises(ValueError, match="not a reversal kind"):
        reversal(kind="PAYMENT")


def test_every_invoice_is_listed_with_what_was_reversed_on_it_and_is_due_again() -> None:
    invoices = [("ACCT-1", "INV-1", 5000), ("ACCT-1", "INV-2", 2500), ("ACCT-9", "INV-7", 50)]
    _, body = reversal(amount_cents=7550, invoices=invoices)
    lines = body.splitlines()
    start = lines.index("These invoices are due again (the amount reversed on each):")
    assert lines[start + 1 : start + 4] == [
        "  - account ACCT-1, invoice INV-1: $50.00",
        "  - account ACCT-1, invoice INV-2: $25.00",
        "  - account ACCT-9, invoice INV-7: $0.50",
    ]
    assert lines[start + 4] == ""


def test_what_to_do_pay_again_in_the_portal_or_contact_the_biller() -> None:
    _, body = reversal()
    assert f"  - Pay them again in the portal: {PORTAL}\n" in body
    assert "  - If you believe this is a mistake, contact Gulf Water.\n" in body
    assert body.endswith("contact Gulf Water.\n")

    _, without_url = reversal(portal_url=None)
    assert "  - Pay them again in the portal.\n" in without_url and "None" not in without_url


def test_only_a_returned_bank_payment_says_to_check_the_bank_account() -> None:
    hint = "check its details with your bank"
    assert hint in reversal(kind="ACH_RETURN")[1]
    assert hint not in reversal(kind="VOID")[1] and hint not in reversal(kind="CHARGEBACK")[1]


@pytest.mark.parametrize(
    ("cents", "text"),
    [(1, "$0.01"), (99, "$0.99"), (100, "$1.00"), (1050, "$10.50"), (123456789, "$1234567.89")],
)
def test_amounts_are_written_from_integer_cents(cents: int, text: str) -> None:
    _, body = reversal(kind="ACH_RETURN", amount_cents=cents, invoices=[("A", "I", cents)])
    assert f"payment of {text} to" in body and f"invoice I: {text}" in body


@pytest.mark.parametrize("amount", [75.5, "75.50", True])
def test_an_amount_that_is_not_integer_cents_is_refused(amount: Any) -> None:
    with pytest.raises(TypeError):
        reversal(amount_cents=amount)
    with pytest.raises(TypeError):
        reversal(invoices=[("ACCT-1", "INV-1", amount)])


def test_a_reversal_names_at_least_one_invoice() -> None:
    with pytest.raises(ValueError, match="at least one invoice"):
        reversal(invoices=[])


def test_values_are_written_as_they_are_plain_text() -> None:
    # Plain text: nothing is escaped, and braces in a value are not read as a template.
    subject, body = reversal(biller_name="Water & Sewer <Tampa> {city}", payment_reference="{amount}")
    assert subject == "Your Water & Sewer <Tampa> {city} payment was voided"
    assert "(reference {amount})" in body and "contact Water & Sewer <Tampa> {city}." in body
    assert "&amp;" not in body and "&lt;" not in body


# ---- registration -------------------------------------------------------------------------------


def test_the_registration_email_lists_the_linked_accounts_and_where_to_finish_registering() -> None:
    subject, body = registration_email(
        biller_name="Gulf Water", linked=["R-1", "U-1"], unregistered=["U-1"], ic_portal_url=PORTAL
    )
    assert subject == "Your Gulf Water accounts are linked"
    assert "  - R-1\n  - U-1\n" in body
    assert f"  {PORTAL}\n(for U-1). Use the registration value printed on your bill." in body
    assert body.endswith("If you did not do this, contact Gulf Water right away.\n")

    _, registered = registration_email(biller_name="Gulf Water", linked=["R-1"], unregistered=[], ic_portal_url=PORTAL)
    assert PORTAL not in registered and "Invoice Cloud" not in registered


def test_the_security_notice_names_the_account_by_its_last_four_characters() -> None:
    subject, body = security_notice(
        biller_name="Gulf Water", account_number="ACCT-123456", linked_at=datetime(2026, 3, 5, tzinfo=UTC)
    )
    assert subject == "Your Gulf Water account was linked"
    assert "On March 05, 2026 your Gulf Water account ending in 3456 was linked" in body
    assert "ACCT-123456" not in body


def test_a_reversal_on_an_invoice_the_bill_no_longer_shows_is_owed_on_the_account() -> None:
    """The billing file closed the invoice: the payer is never pointed at an invoice the portal does
    not show; the amount is due on the account."""
    _, body = reversal_email(
        biller_name="Gulf Water", kind="CHARGEBACK", amount_cents=2000,
        invoices=[("ACCT-1", "INV-1", 1500), ("ACCT-1", None, 500)], payment_reference="PAY-1",
        occurred="November 12, 2026", portal_url=None,
    )  # fmt: skip
    assert "  - account ACCT-1, invoice INV-1: $15.00" in body
    assert "  - account ACCT-1: $5.00, due on the account (your next bill shows it)" in body


def test_a_chargeback_reversal_says_the_money_counts_again_and_asks_nothing() -> None:
    subject, body = reversal_email(
        biller_name="Gulf Water", kind="CHARGEBACK_REVERSAL", amount_cents=2000,
        invoices=[("ACCT-1", "INV-1", 2000)], payment_reference="PAY-1",
        occurred="November 12, 2026", portal_url="https://pay.example.com/portal", payment_cents=7550,
    )  # fmt: skip
    assert subject == "Your Gulf Water payment counts again"
    assert "counts toward your bills again" in body and "There is nothing to do" in body
    assert "due again" not in body and "Pay them again" not in body


def test_a_refund_says_the_payment_no_longer_counts() -> None:
    subject, body = reversal_email(
        biller_name="Gulf Water", kind="REFUND", amount_cents=7550, invoices=[("ACCT-1", "INV-1", 7550)],
        payment_reference="PAY-1", occurred="November 12, 2026", portal_url=None,
    )  # fmt: skip
    assert subject == "Your Gulf Water payment was refunded"
    assert "was refunded to you" in body and "These invoices are due again" in body
