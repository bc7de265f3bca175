"""The demo portal end to end in a real browser: sign in, link accounts, pay on Invoice Cloud's hosted
pages (the simulator), come back, see the result and the receipt, and the history.

Screenshots of every step go to tests/e2e/artifacts/<test name>/ (git-ignored).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from avocette.service.billing_import import ImportRules, ImportStatus, import_billing
from playwright.sync_api import Page, expect

from tests.e2e.browsing import DESKTOP, PHONE
from tests.e2e.portal import (
    APPROVING_CARD,
    DECLINING_CARD,
    OpenBrowser,
    authorization_code_on_receipt,
    choose_invoices,
    expect_fact,
    go_to,
    go_to_invoice_cloud,
    invoice_card,
    pay_by_card,
    payment_view,
    receipt_cells,
    register,
    return_to_portal,
    sign_in,
    through_to_payment,
)

pytestmark = pytest.mark.e2e

# ---- the tests ----------------------------------------------------------------------------------


def test_carol_registers_her_accounts_and_pays_one_of_two_invoices(open_browser: OpenBrowser) -> None:
    run = open_browser(PHONE)
    page = run.page

    # Sign in: carol has no linked account yet, so the accounts page asks her to link one.
    run.allow_http_error(403, "/accounts")
    sign_in(run, "carol")
    expect(page.get_by_text("Link a utility account first.")).to_be_visible()
    run.step("registration-required")

    # She links both accounts of her bills.
    page.get_by_role("link", name="Link your accounts").click()
    expect(page.get_by_role("heading", name="Link your accounts", level=1)).to_be_visible()
    outcome = register(page, [("ACCT-3001", "3001-REG"), ("ACCT-3002", "3002-REG")])
    for number in ("ACCT-3001", "ACCT-3002"):
        item = outcome.get_by_role("listitem").filter(has_text=number)
        expect(item).to_contain_text("Linked to your profile.")
        expect(item).to_contain_text("We are sending you an email with a link to finish registering with them")
        expect(item).to_contain_text("Invoice Cloud, our payment provider")
    expect(outcome).to_contain_text("We sent a confirmation email to carol@example.com.")
    linked = page.get_by_role("region", name="Accounts linked to your profile")
    expect(linked.get_by_role("listitem")).to_have_count(2)
    expect(linked).to_contain_text("Invoice Cloud: not registered yet")
    run.step("registered")

    # The email is in the sandbox's mailbox.
    go_to(page, "Mailbox", "Mailbox")
    expect(page.get_by_label("Only emails to carol@example.com")).to_be_checked()
    email = page.get_by_role("article").filter(has_text="carol@example.com")
    expect(email).to_have_count(1)
    expect(email.get_by_role("heading")).to_have_text("Your Avocette Utilities accounts are linked")
    expect(email.locator("pre")).to_contain_text("ACCT-3001")
    expect(email.locator("pre")).to_contain_text("ACCT-3002")
    run.step("mailbox")

    # Both accounts and what she owes.
    go_to(page, "Accounts", "Your accounts")
    expect(page.get_by_role("heading", name=re.compile("^Account ACCT-300[12]$"))).to_have_count(2)
    expect(page.locator("#grand-total")).to_have_text("$155.09")
    run.step("accounts")

    # She chooses both invoices, of two accounts, and goes to Invoice Cloud.
    page.get_by_role("link", name="Pay bills", exact=True).last.click()
    expect(page.get_by_role("heading", name="Pay bills", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Choose invoices to pay")).to_be_disabled()
    choose_invoices(page, ["INV-3001-1", "INV-3002-1"], "$155.09")
    expect(page.get_by_text("2 invoices selected")).to_be_visible()
    run.step("pay")
    go_to_invoice_cloud(page, "$155.09", run.simulator)

    # On Invoice Cloud's pages she removes one invoice, then pays the other by card.
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("#total")).to_have_text("$155.09")
    run.step("ic-account")
    page.get_by_role("button", name="Continue", exact=True).click()
    page.get_by_role("button", name="Remove invoice INV-3002-1").click()
    expect(page.get_by_role("cell", name="INV-3002-1")).to_have_count(0)
    expect(page.locator("#total")).to_have_text("$55.10")
    run.step("ic-invoice-removed")
    page.get_by_role("button", name="Continue to billing information").click()
    run.step("ic-billing")
    page.get_by_role("button", name="Continue to payment").click()
    run.step("ic-payment")
    pay_by_card(page, APPROVING_CARD, "Carol Castillo")
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible()
    authorization = authorization_code_on_receipt(page)
    payment_id = return_to_portal(run)

    # Back in the portal: approved, with a receipt of what was paid (one invoice, not the other), and
    # the card's authorization as Invoice Cloud reported it (payers need it to dispute a charge).
    expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
    expect(page.locator(".payment-status")).to_contain_text(
        "Your payment of $56.10 (including a $1.00 fee) was approved. Invoices you did not pay remain open"
    )
    receipt = payment_view(page)
    expect(receipt).to_contain_text("Avocette Utilities")
    expect(receipt.locator("#receipt-reference")).to_have_text(re.compile(r"^AVC-[0-9A-Z]{4}-[0-9A-Z]{4}$"))
    expect_fact(receipt.get_by_role("region", name="Technical references"), "Payment ID", payment_id)
    expect_fact(receipt, "Payment method", "Card (Visa)")
    expect_fact(receipt, "Authorization", re.compile(rf"(^|\s){re.escape(authorization)}$"))
    expect(receipt_cells(receipt, "INV-3001-1")).to_have_text(["$55.10", "$55.10"])
    expect(receipt_cells(receipt, "INV-3002-1")).to_have_text(["$99.99", "$0.00Not paid"])
    expect_fact(receipt, "Amount paid", "$55.10")
    expect_fact(receipt, "Convenience fee", "$1.00")
    expect_fact(receipt, "Total charged", "$56.10")
    expect(receipt.get_by_role("button", name="Print receipt")).to_be_visible()
    run.step("return-approved")
    run.docs_screenshot("portal-receipt")  # the README's picture, with UPDATE_SCREENSHOTS=1

    # Printed, the page is the receipt alone.
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.get_by_role("heading", name="Payment approved")).to_be_hidden()
    expect(receipt.get_by_role("button", name="Print receipt")).to_be_hidden()
    expect(receipt).to_be_visible()
    expect(receipt.get_by_text(authorization)).to_be_visible()
    run.step("receipt-printed")
    page.emulate_media(media="screen")

    # Her accounts: the paid invoice is at $0.00, the removed one still payable.
    go_to(page, "Accounts", "Your accounts")
    paid = invoice_card(page, "INV-3001-1")
    expect(paid).to_contain_text("Paid")
    expect_fact(paid, "Payable now", "$0.00")
    expect_fact(invoice_card(page, "INV-3002-1"), "Payable now", "$99.99")
    expect(page.locator("#grand-total")).to_have_text("$99.99")
    run.step("accounts-after")

    # And her history lists the payment, linking to its receipt.
    go_to(page, "Payment history", "Payment history")
    entry = page.get_by_role("listitem").filter(has_text="Payment of $55.10")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Approved")
    expect(entry).to_contain_text("INV-3002-1 (ACCT-3002, not paid)")
    run.step("history")
    entry.get_by_role("link").click()
    expect(page).to_have_url(f"{run.gateway}/#/return/{payment_id}")
    expect(payment_view(page)).to_be_visible()


def test_alice_is_declined_then_pays_with_a_good_card(open_browser: OpenBrowser) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    sign_in(run, "alice")

    # By keyboard: the skip link comes first and leads to the page's content; a checkbox takes Space.
    run.open("#/pay")
    expect(page.get_by_label("Invoice INV-1001-1")).to_be_enabled()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
    page.get_by_label("Invoice INV-1001-1").focus()
    page.keyboard.press("Space")

    # Declined on Invoice Cloud's page, then approved there with another card.
    choose_invoices(page, [], "$84.20")
    go_to_invoice_cloud(page, "$84.20", run.simulator)
    through_to_payment(page)
    pay_by_card(page, DECLINING_CARD, "Alice Anders")
    expect(page.get_by_role("alert")).to_contain_text("Card declined.")
    run.step("ic-declined")
    pay_by_card(page, APPROVING_CARD, "Alice Anders")
    return_to_portal(run)
    expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
    expect(receipt_cells(payment_view(page), "INV-1001-1")).to_have_text(["$84.20", "$84.20"])
    run.step("first-approved")

    # Declined again, for the other invoice; this time she comes back to the portal first.
    go_to(page, "Pay bills", "Pay bills")
    expect(page.get_by_label("Invoice INV-1001-1")).to_be_disabled()
    choose_invoices(page, ["INV-1001-2"], "$42.15")
    session_url = go_to_invoice_cloud(page, "$42.15", run.simulator)
    through_to_payment(page)
    pay_by_card(page, DECLINING_CARD, "Alice Anders")
    expect(page.get_by_role("alert")).to_contain_text("Card declined.")
    run.open("#/history")
    entry = page.get_by_role("listitem").filter(has_text="Payment of $42.15")
    entry.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Payment declined")).to_be_visible()
    expect(page.get_by_text("Your payment was declined. No money was taken.")).to_be_visible()
    run.step("portal-declined")

    # "Try again" takes her back to the same open session, where the good card is approved.
    page.get_by_role("button", name="Try again").click()
    page.wait_for_url(session_url)
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Alice Anders")
    return_to_portal(run)
    expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
    expect(receipt_cells(payment_view(page), "INV-1001-2")).to_have_text(["$42.15", "$42.15"])
    run.step("second-approved")


MARKUP_NAME = '<img src=x onerror="window.__xss=1">Mallory <b>Markup</b>'


def test_values_from_the_api_are_shown_as_text(open_browser: OpenBrowser) -> None:
    # Given a billing file whose payer name is markup
    report = import_billing(
        io.StringIO(_billing_csv("ACCT-9001", MARKUP_NAME, "9001-REG")),
        rules=ImportRules.from_environment(),
        key=_MARKUP_FILE_KEY,
    )
    assert report.status is ImportStatus.IMPORTED and not report.bad_row_count, report.summary()

    # When someone links that account and looks at it
    run = open_browser(DESKTOP)
    page = run.page
    run.allow_http_error(403, "/accounts")
    sign_in(run, "mallory")
    go_to(page, "Link accounts", "Link your accounts")
    outcome = register(page, [("ACCT-9001", "9001-REG")])
    expect(outcome).to_contain_text("Linked to your profile.")
    go_to(page, "Accounts", "Your accounts")

    # Then the name is shown as the text it is, and nothing of it became markup or ran
    expect(page.get_by_text(MARKUP_NAME, exact=True)).to_be_visible()
    run.step("accounts")
    _expect_inert(page)
    go_to(page, "Pay bills", "Pay bills")
    expect(page.get_by_role("group", name=re.compile("ACCT-9001"))).to_contain_text(MARKUP_NAME)
    _expect_inert(page)
    run.step("pay")


_MARKUP_FILE_KEY = "billing/20261102T060000Z.csv"


def _expect_inert(page: Page) -> None:
    expect(page.locator("main img")).to_have_count(0)
    expect(page.locator("main b")).to_have_count(0)
    assert page.evaluate("() => typeof window.__xss") == "undefined"


def _billing_csv(account: str, name: str, registration_value: str) -> str:
    columns = [
        "AccountNumber", "Name", "Address", "City", "State", "Zip", "EmailAddress", "RegistrationValue",
        "InvoiceNumber", "TypeID", "InvoiceDate", "DueDate", "BalanceDue", "MinimumAmountDue",
        "AllowPartialPayments", "CCServiceFee", "ACHServiceFee",
    ]  # fmt: skip
    row = [
        account, name, "1 Test Street", "Tampa", "FL", "33602", "mallory@example.com", registration_value,
        f"INV-{account[5:]}-1", "6", "11/02/2026", "12/20/2026", "12.34", "", "false", "", "",
    ]  # fmt: skip
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerows([columns, row])
    return text.getvalue()
