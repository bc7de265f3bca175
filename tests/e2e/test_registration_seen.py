"""A payer who finishes registering at Invoice Cloud after linking here sees it in the portal
(issue 20): the accounts linked to their profile say "registered" once Invoice Cloud is asked again
(GET /registrations, at most every REGISTRATION_IC_RECHECK_SECONDS per link).

Its own module, so its own sandbox: it registers ACCT-3002 at Invoice Cloud, which the other
modules' carol expects not to be."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import DESKTOP
from tests.e2e.portal import OpenBrowser, advance_sandbox_clock, go_to, sign_in

pytestmark = pytest.mark.e2e


def test_carol_registers_at_invoice_cloud_and_the_portal_says_so(open_browser: OpenBrowser) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    run.allow_http_error(403, "/accounts")
    sign_in(run, "carol")
    go_to(page, "Link accounts", "Link your accounts")
    page.get_by_label("Account number").fill("ACCT-3002")
    page.get_by_label("Registration value").fill("3002-REG")
    page.get_by_role("button", name="Link accounts").click()
    # A cold function asking Invoice Cloud and sending two emails on a loaded machine: more than the
    # usual 10 s may pass.
    outcome = page.get_by_role("status").filter(has=page.get_by_role("heading", name="What happened"))
    expect(outcome).to_be_visible(timeout=45_000)
    expect(outcome).to_contain_text("Linked to your profile.")
    linked = page.get_by_role("region", name="Accounts linked to your profile")
    expect(linked).to_contain_text("ACCT-3002")
    expect(linked).to_contain_text("Invoice Cloud: not registered yet")
    run.step("linked")

    # The email's link: Invoice Cloud's customer portal, where she registers the account.
    page.goto(f"{run.simulator}/portal/")
    page.get_by_label("Account number").fill("ACCT-3002")
    page.get_by_label("Registration value (printed on your bill)").fill("3002-REG")
    page.get_by_label("Email for your login").fill("carol@example.com")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="You are registered")).to_be_visible()
    run.step("registered-at-invoice-cloud")

    # Back in the portal a little later (the portal asks Invoice Cloud again at most once a minute).
    advance_sandbox_clock(run, 2)
    run.open("#/register")
    linked = page.get_by_role("region", name="Accounts linked to your profile")
    expect(linked).to_contain_text("ACCT-3002")
    expect(linked).to_contain_text("Invoice Cloud: registered", timeout=30_000)  # it asks Invoice Cloud
    expect(linked).not_to_contain_text("not registered yet")
    run.step("seen-registered")
