"""Issue 20's portal and simulator findings, as a payer meets them:

- a fresh tab in another zone than the biller's shows every time in the biller's zone (config.json's
  ``billerTimeZone``), even where no payment names the zone (the registration page, the notice of a
  session already open);
- the link in the registration email on the sandbox's mailbox page is a link (http(s) only, as text);
- Invoice Cloud's receipt on a phone: a confirmation number a payer can read, a date on one line.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import DESKTOP, PHONE
from tests.e2e.portal import (
    APPROVING_CARD,
    OpenBrowser,
    choose_invoices,
    go_to,
    go_to_invoice_cloud,
    moment_pattern,
    pay_by_card,
    register,
    sandbox_client,
    sign_in,
    through_to_payment,
)

pytestmark = pytest.mark.e2e

BILLER_ZONE = "America/New_York"  # BILLER_TIME_ZONE as the sandbox sets it (the template's default)
BROWSER_ZONE = "Asia/Tokyo"  # the payer's device: what no page may use


def test_a_fresh_tab_in_another_zone_shows_the_billers_times(open_browser: OpenBrowser) -> None:
    run = open_browser({**DESKTOP, "timezone_id": BROWSER_ZONE})
    page = run.page
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == BROWSER_ZONE
    run.allow_http_error(403, "/accounts")  # no account linked yet
    sign_in(run, "tomoko")
    go_to(page, "Link accounts", "Link your accounts")
    register(page, [("ACCT-3001", "3001-REG")])
    client = sandbox_client(run)
    (link,) = client.call("GET", "/registrations", "tomoko").json()["accounts"]
    page.reload()
    linked = page.locator("span.hint", has_text=re.compile(r"^ linked "))
    expect(linked).to_have_text(re.compile(rf"^ linked {moment_pattern(link['linkedAt'], BILLER_ZONE)}$"))
    run.step("registration-times")

    # A session already open for the same invoices (another tab started it): the API answers it again
    # with 200 and no zone; the notice still says the biller's time, and one deadline.
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-3001-1"], "$55.10")
    started = client.call(
        "POST",
        "/payments",
        "tomoko",
        json={"invoices": [{"accountNumber": "ACCT-3001", "invoiceNumber": "INV-3001-1"}]},
    ).json()
    page.get_by_role("button", name="Pay $55.10 with Invoice Cloud").click()
    notice = page.locator(".notice").filter(has_text="You already have a payment session open for these invoices")
    expect(notice).to_contain_text(
        re.compile(rf"You can pay on Invoice Cloud until {moment_pattern(started['sessionExpiresAt'], BILLER_ZONE)}\.")
    )
    run.step("reused-session")


def test_the_link_in_a_mail_is_a_link_and_only_http_ones_are(open_browser: OpenBrowser) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    run.allow_http_error(403, "/accounts")
    sign_in(run, "erin")
    go_to(page, "Link accounts", "Link your accounts")
    register(page, [("ACCT-3002", "3002-REG")])
    go_to(page, "Mailbox", "Mailbox")
    mail = page.locator("article.mail").first
    link = mail.locator(".mail-body a").first
    expect(link).to_have_attribute("href", re.compile("^" + re.escape(run.simulator) + "/portal/"))
    expect(link).to_have_text(re.compile("^" + re.escape(run.simulator) + r"/portal/\S*$"))
    run.step("mailbox-link")

    # What becomes a link, and how: text nodes and http(s) addresses only, trailing punctuation left out.
    parts = page.evaluate(
        """async () => {
          const { linked } = await import("/js/pages/mailbox.js");
          const text = 'Go to https://a.example/p?q=1&r=<b>. Not javascript:alert(1), nor data:text/html,x; '
            + 'http://b.example/x) and <img src=x onerror=alert(1)>';
          return linked(text).map((part) => typeof part === "string"
            ? ["text", part] : [part.tagName, part.getAttribute("href"), part.textContent]);
        }"""
    )
    assert parts == [
        ["text", "Go to "],
        ["A", "https://a.example/p?q=1&r=", "https://a.example/p?q=1&r="],
        ["text", "<b>. Not javascript:alert(1), nor data:text/html,x; "],
        ["A", "http://b.example/x", "http://b.example/x"],
        ["text", ") and <img src=x onerror=alert(1)>"],
    ]


def test_invoice_clouds_receipt_on_a_phone(open_browser: OpenBrowser) -> None:
    run = open_browser({**PHONE, "timezone_id": BROWSER_ZONE})
    page = run.page
    sign_in(run, "alice")
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-1001-2"], "$42.15")
    go_to_invoice_cloud(page, "$42.15", run.simulator)
    through_to_payment(page)
    pay_by_card(page, APPROVING_CARD, "Alice Anders")
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible()
    run.step("ic-receipt-phone")
    expect(page.locator("dt", has_text="Confirmation number")).to_be_visible()
    expect(page.locator("#receipt-number")).to_have_text(re.compile(r"^[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$"))
    date = page.locator("dl.facts dd.when")
    expect(date).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M E[SD]T$"))
    lines = date.evaluate(
        "(element) => Math.round(element.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(element).lineHeight))"
    )
    assert lines == 1, f"the date takes {lines} lines on a phone"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the receipt is wider than the phone"
    )
