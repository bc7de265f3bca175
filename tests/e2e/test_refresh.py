"""Invoice Cloud's balance refresh as a payer sees it (DESIGN §3, §8): a bill paid through the portal still
shows as due on Invoice Cloud's customer portal, which has only the biller's last invoice load, until
Invoice Cloud pulls the balances; then it shows it paid."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

from tests.e2e.browsing import DESKTOP
from tests.e2e.portal import (
    APPROVING_CARD,
    OpenBrowser,
    choose_invoices,
    go_to,
    go_to_invoice_cloud,
    pay_by_card,
    return_to_portal,
    sign_in,
    through_to_payment,
    wait_for_payment,
)

pytestmark = pytest.mark.e2e


def status_on_invoice_cloud(page: Page, invoice_number: str) -> Locator:
    return page.locator(f'tr[data-invoice="{invoice_number}"]').get_by_role("cell").last


def test_a_bill_paid_in_the_portal_stops_showing_as_due_on_invoice_cloud_after_a_refresh(
    open_browser: OpenBrowser,
) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    invoice_cloud_page = f"{run.simulator}/portal/accounts/ACCT-2001"
    # Given Invoice Cloud's customer portal shows bob's bill as the invoice load had it
    page.goto(invoice_cloud_page)
    expect(page.get_by_role("heading", name="Your bills")).to_be_visible()
    expect(status_on_invoice_cloud(page, "INV-2001-1")).to_have_text("Due")
    expect(page.locator("#total-due")).to_have_text("$63.75")
    run.step("invoice-cloud-before")

    # When bob pays it through the portal (Invoice Cloud's hosted pages, an approving card)
    sign_in(run, "bob")
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-2001-1"], "$63.75")
    go_to_invoice_cloud(page, "$63.75", run.simulator)
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Bob Brennan")
    payment_id = return_to_portal(run)
    wait_for_payment(run, "bob", payment_id, lambda payment: payment["status"] == "APPROVED")

    # Then Invoice Cloud still shows it due: nothing told it yet
    page.goto(invoice_cloud_page)
    expect(status_on_invoice_cloud(page, "INV-2001-1")).to_have_text("Due")

    # Until it pulls the balances from us
    pulled = requests.post(f"{run.simulator}/_sim/refresh/ACCT-2001", timeout=30)
    assert pulled.status_code == 200 and pulled.json()["outcome"] == "REFRESHED", pulled.text
    page.reload()
    expect(status_on_invoice_cloud(page, "INV-2001-1")).to_have_text("Paid")
    expect(page.locator("#total-due")).to_have_text("$0.00")
    expect(page.locator("#balances-source")).to_contain_text("Balances refreshed from Avocette Utilities on")
    run.step("invoice-cloud-after-refresh")
