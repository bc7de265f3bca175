"""A payment Invoice Cloud takes back after it was approved: its daily payment file (the simulator
writes it into the inbound bucket, which starts the reconciliation as S3 would) reports a chargeback
of a whole card payment, or a void of part of one, or a chargeback the biller then wins (a chargeback
reversal gives the money back). The payer's pages follow: the payment page, the history, the accounts
(the money is due again, or no longer) and the email. And a bank (ACH) payment, which says it can take
a few days to clear.

The conftest's sandbox is per module, so these payments and the simulator's reversals stay out of the
other tests' way. Screenshots of every step go to tests/e2e/artifacts/<test name>/ (git-ignored).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import DESKTOP, PHONE
from tests.e2e.portal import (
    APPROVING_CARD,
    APPROVING_ROUTING_NUMBER,
    OpenBrowser,
    advance_sandbox_clock,
    choose_invoices,
    expect_fact,
    go_to,
    go_to_invoice_cloud,
    history_entry,
    invoice_card,
    invoice_cloud_reverses,
    moment_in_words,
    pay_by_card,
    pay_from_bank_account,
    payment_details,
    payment_view,
    receipt_cells,
    result_panel,
    return_to_portal,
    reversal_cells,
    reversals_table,
    sign_in,
    through_to_payment,
    wait_for_payment,
)

pytestmark = pytest.mark.e2e

# The portal writes times in the biller's zone (BILLER_TIME_ZONE, the sandbox's default), whatever the
# browser's own zone is: these tests run the browser in another one.
BILLER_ZONE = "America/New_York"
BROWSER_ZONE = "America/Los_Angeles"


def test_bob_card_payment_is_charged_back_and_his_invoice_is_due_again(open_browser: OpenBrowser) -> None:
    run = open_browser({**PHONE, "timezone_id": BROWSER_ZONE})
    page = run.page
    sign_in(run, "bob")

    # Bob pays his invoice by card on Invoice Cloud's pages: approved.
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-2001-1"], "$63.75")
    go_to_invoice_cloud(page, "$63.75", run.simulator)
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Bob Brennan")
    payment_id = return_to_portal(run)
    result_panel(page, "Payment approved")
    expect(payment_view(page)).to_be_visible()
    run.step("approved")

    # Days later, Invoice Cloud's payment file reports a chargeback of the whole payment.
    invoice_cloud_reverses(run, {"billerReference": payment_id, "kind": "CHARGEBACK"})
    reversed_ = wait_for_payment(run, "bob", payment_id, lambda payment: payment["status"] == "REVERSED")
    assert [(r["kind"], r["amount"]) for r in reversed_["reversals"]] == [("CHARGEBACK", "63.75")], reversed_

    # His payment page, reloaded: reversed, what happened and when, and the invoice due again.
    page.reload()
    panel = result_panel(page, "Payment reversed")
    expect(panel).to_contain_text("This payment was reversed and no longer counts toward your bills.")
    expect(panel).to_contain_text("The invoices it paid are due again.")
    expect(panel).to_contain_text("What happened is listed below.")
    expect(panel.get_by_text("due again")).to_have_count(1)  # said once, in the server's words
    expect(panel.get_by_role("link", name="Pay bills")).to_be_visible()
    expect(page.get_by_role("heading", name="Payment approved")).to_have_count(0)
    details = payment_details(page)
    expect_fact(details, "Payment ID", payment_id)
    expect_fact(details, "Status", "Reversed")
    expect_fact(details, "Amount", "$63.75")
    expect_fact(details, "Payment method", "Card (Visa)")
    reversals = reversals_table(page)
    expect(reversal_cells(reversals, "Chargeback")).to_have_text(
        [moment_in_words(reversed_["reversals"][0]["at"], BILLER_ZONE), "$63.75"]
    )
    expect(details.get_by_role("region", name="Reversals")).to_contain_text(
        "The invoices of this payment are due again."
    )
    run.step("reversed")

    # His history marks it reversed, with the amount taken back.
    go_to(page, "Payment history", "Payment history")
    entry = history_entry(page, "Payment of $63.75")
    expect(entry.locator(".badge")).to_have_text("Reversed")
    expect(entry).to_contain_text("$63.75 reversed: the invoices are due again.")
    run.step("history")

    # His accounts: the invoice is payable again, in full.
    go_to(page, "Accounts", "Your accounts")
    invoice = invoice_card(page, "INV-2001-1")
    expect_fact(invoice, "Payable now", "$63.75")
    expect(invoice.get_by_text("Paid", exact=True)).to_have_count(0)
    expect(page.locator("#grand-total")).to_have_text("$63.75")
    expect(page.get_by_role("link", name="Pay bills", exact=True).last).to_be_visible()
    run.step("accounts")

    # And he was told by email.
    go_to(page, "Mailbox", "Mailbox")
    expect(page.get_by_label("Only emails to bob@example.com")).to_be_checked()
    email = page.get_by_role("article").filter(
        has=page.get_by_role("heading", name="Your Avocette Utilities card payment was disputed (chargeback)")
    )
    expect(email).to_have_count(1)
    expect(email).to_contain_text("bob@example.com")
    body = email.locator("pre")
    expect(body).to_contain_text(f"(reference {reversed_['receiptReference']})")
    expect(body).to_contain_text("$63.75 was returned to your card")
    expect(body).to_contain_text("account ACCT-2001, invoice INV-2001-1: $63.75")
    run.step("mailbox")


def test_alice_payment_is_partly_voided_and_stays_approved_for_the_rest(open_browser: OpenBrowser) -> None:
    run = open_browser({**DESKTOP, "timezone_id": BROWSER_ZONE})
    page = run.page
    sign_in(run, "alice")

    # Alice pays both invoices of her first account by card.
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-1001-1", "INV-1001-2"], "$126.35")
    go_to_invoice_cloud(page, "$126.35", run.simulator)
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Alice Anders")
    payment_id = return_to_portal(run)
    result_panel(page, "Payment approved")
    expect_fact(payment_view(page), "Amount paid", "$126.35")
    run.step("approved")

    # Invoice Cloud voids $10.00 of the second invoice.
    invoice_cloud_reverses(
        run, {"billerReference": payment_id, "kind": "VOID", "invoiceNumber": "INV-1001-2", "amount": "10.00"}
    )
    voided = wait_for_payment(run, "alice", payment_id, lambda payment: bool(payment.get("reversals")))
    assert (voided["status"], voided["amountPaid"]) == ("APPROVED", "116.35"), voided

    # Her payment page, reloaded: still approved, for what is left, and the void listed.
    page.reload()
    panel = result_panel(page, "Payment approved")
    expect(panel).to_contain_text("$10.00 of your payment was reversed and is due again")
    expect(panel).to_contain_text("The other $116.35 of your payment still counts toward them.")
    expect(panel).to_contain_text("What happened is listed on the receipt below.")
    receipt = payment_view(page)
    expect_fact(receipt, "Payment ID", payment_id)
    expect_fact(receipt, "Status", "Approved")
    expect(receipt_cells(receipt, "INV-1001-1")).to_have_text(["$84.20", "$84.20"])
    expect(receipt_cells(receipt, "INV-1001-2")).to_have_text(["$42.15", "$32.15"])
    # What was charged, what was taken back, and what stands, apart.
    expect_fact(receipt, "Amount paid", "$126.35")
    expect_fact(receipt, "Reversed", "-$10.00")
    expect_fact(receipt, "Paid after reversals", "$116.35")
    reversals = reversals_table(page)
    expect(reversal_cells(reversals, "Payment voided")).to_have_text(
        [moment_in_words(voided["reversals"][0]["at"], BILLER_ZONE), "$10.00"]
    )
    expect(receipt.get_by_role("region", name="Reversals")).to_contain_text(
        "The amount reversed is due again on the invoices of this payment."
    )
    run.step("part-voided")

    # Her history: approved, for the rest, with the amount voided.
    go_to(page, "Payment history", "Payment history")
    entry = history_entry(page, "Payment of $116.35")
    expect(entry.locator(".badge")).to_have_text("Approved")
    expect(entry).to_contain_text("$10.00 reversed: that amount is due again.")
    run.step("history")

    # Her accounts: the voided $10.00 of the second invoice is payable again, the first stays paid.
    go_to(page, "Accounts", "Your accounts")
    expect_fact(invoice_card(page, "INV-1001-1"), "Payable now", "$0.00")
    expect_fact(invoice_card(page, "INV-1001-2"), "Payable now", "$10.00")
    run.step("accounts")

    go_to(page, "Mailbox", "Mailbox")
    email = page.get_by_role("article").filter(
        has=page.get_by_role("heading", name="Your Avocette Utilities payment was voided")
    )
    expect(email).to_have_count(1)
    expect(email.locator("pre")).to_contain_text("account ACCT-1001, invoice INV-1001-2: $10.00")
    run.step("mailbox")


def test_alice_bank_payment_says_it_can_take_a_few_days_to_clear(open_browser: OpenBrowser) -> None:
    run = open_browser(PHONE)
    page = run.page
    sign_in(run, "alice")

    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-1002-1"], "$120.00")
    go_to_invoice_cloud(page, "$120.00", run.simulator)
    through_to_payment(page)
    pay_from_bank_account(page, APPROVING_ROUTING_NUMBER, "123456789")
    return_to_portal(run)

    panel = result_panel(page, "Payment approved")
    expect(panel).to_contain_text("Your payment of $121.00 (including a $1.00 fee) was approved.")
    expect(panel).to_contain_text("Bank payments can take a few days to clear.")
    receipt = payment_view(page)
    expect_fact(receipt, "Payment method", "Bank account (ACH)")
    expect_fact(receipt, "Amount paid", "$120.00")
    run.step("approved-clearing")


def test_bob_wins_a_dispute_and_his_charged_back_payment_counts_again(open_browser: OpenBrowser) -> None:
    run = open_browser({**DESKTOP, "timezone_id": BROWSER_ZONE})
    page = run.page
    sign_in(run, "bob")

    # Bob pays his invoice by card (payable in full: on a fresh sandbox, or after the chargeback above).
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-2001-1"], "$63.75")
    go_to_invoice_cloud(page, "$63.75", run.simulator)
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Bob Brennan")
    payment_id = return_to_portal(run)
    result_panel(page, "Payment approved")
    run.step("approved")

    # Invoice Cloud charges back $20.00 of it; the receipt shows what was charged and what was taken back.
    invoice_cloud_reverses(
        run, {"billerReference": payment_id, "kind": "CHARGEBACK", "invoiceNumber": "INV-2001-1", "amount": "20.00"}
    )
    charged_back = wait_for_payment(run, "bob", payment_id, lambda payment: bool(payment.get("reversals")))
    assert (charged_back["status"], charged_back["amountPaid"]) == ("APPROVED", "43.75"), charged_back
    fee = charged_back.get("convenienceFee") or "0.00"
    total = f"${Decimal('63.75') + Decimal(fee)}"  # the page's words for amount and fee together
    page.reload()
    receipt = payment_view(page)
    expect_fact(receipt, "Amount paid", "$63.75")
    expect_fact(receipt, "Total charged", total)
    expect_fact(receipt, "Reversed", "-$20.00")
    expect_fact(receipt, "Paid after reversals", "$43.75")
    expect(reversal_cells(reversals_table(page), "Chargeback")).to_have_text(
        [moment_in_words(charged_back["reversals"][0]["at"], BILLER_ZONE), "$20.00"]
    )
    run.step("charged-back")

    # A day later the biller has won the dispute: Invoice Cloud's file gives the $20.00 back.
    advance_sandbox_clock(run, 24 * 60)
    invoice_cloud_reverses(run, {"billerReference": payment_id, "kind": "CHARGEBACK_REVERSAL", "reasonCode": "WON"})
    won = wait_for_payment(run, "bob", payment_id, lambda payment: len(payment.get("reversals") or []) == 2)
    assert (won["status"], won["amountPaid"]) == ("APPROVED", "63.75"), won
    assert [(r["kind"], r["amount"]) for r in won["reversals"]] == [
        ("CHARGEBACK", "20.00"),
        ("CHARGEBACK_REVERSAL", "20.00"),
    ]

    # His payment page: approved, both events listed, the money given back, nothing due again.
    page.reload()
    panel = result_panel(page, "Payment approved")
    expect(panel).not_to_contain_text("reversed and is due again")
    receipt = payment_view(page)
    expect_fact(receipt, "Status", "Approved")
    expect_fact(receipt, "Amount paid", "$63.75")
    expect_fact(receipt, "Total charged", total)
    expect(receipt.get_by_text("Paid after reversals")).to_have_count(0)
    reversals = reversals_table(page)
    expect(reversal_cells(reversals, "Chargeback")).to_have_text(
        [moment_in_words(won["reversals"][0]["at"], BILLER_ZONE), "$20.00"]
    )
    expect(reversal_cells(reversals, "Chargeback reversed")).to_have_text(
        [moment_in_words(won["reversals"][1]["at"], BILLER_ZONE), "+$20.00"]
    )
    expect(receipt.get_by_role("region", name="Reversals")).to_contain_text(
        "What was taken back was given back: nothing of this payment is due again."
    )
    run.step("dispute-won")

    # His history: approved for the whole amount, the chargeback reversed.
    go_to(page, "Payment history", "Payment history")
    # (By its link: after the test above, bob has another payment of $63.75.)
    entry = page.get_by_role("listitem").filter(has=page.locator(f'a[href*="{payment_id}"]'))
    expect(entry).to_have_count(1)
    expect(entry.locator(".badge")).to_have_text("Approved")
    expect(entry).to_contain_text("Chargeback reversed: nothing is due again.")
    run.step("history")

    # His accounts: the invoice is paid again.
    go_to(page, "Accounts", "Your accounts")
    expect_fact(invoice_card(page, "INV-2001-1"), "Payable now", "$0.00")
    run.step("accounts")
