"""The paths a first-time payer stumbles on: leaving Invoice Cloud's pages after a decline and finding
the open session on the Pay page, nothing left to pay, a sign-in that ran out, and a phone's width.

Times: the browser runs in another zone than the biller's, and every time a payer reads for one payment
(the portal, Invoice Cloud's receipt, the email) is the biller's local time with its zone.
"""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

from tests.e2e.browsing import DESKTOP, BrowserRun
from tests.e2e.portal import (
    APPROVING_CARD,
    DECLINING_CARD,
    OpenBrowser,
    choose_invoices,
    expect_fact,
    go_to,
    go_to_invoice_cloud,
    invoice_cloud_reverses,
    moment_in_words,
    parse_moment,
    pay_by_card,
    payment_as_api_sends_it,
    payment_view,
    result_panel,
    return_to_portal,
    sandbox_client,
    sandbox_now,
    sign_in,
    through_to_payment,
    wait_for_payment,
)

pytestmark = pytest.mark.e2e

BILLER_ZONE = "America/New_York"  # BILLER_TIME_ZONE as the sandbox sets it (the template's default)
BROWSER_ZONE = "Europe/Berlin"  # the payer's device: not what any page may use
PHONE_390: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
REFERENCE = re.compile(r"^AVC-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_declined_payer_returns_by_the_cancel_link_and_continues_the_open_session(open_browser: OpenBrowser) -> None:
    run = open_browser({**DESKTOP, "timezone_id": BROWSER_ZONE})
    page = run.page
    sign_in(run, "alice")
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-1001-2"], "$42.15")
    session_url = go_to_invoice_cloud(page, "$42.15", run.simulator)

    # Every step of Invoice Cloud's route offers the way back; the fee text says what the fees are.
    cancel = page.get_by_role("link", name="Cancel and return to Avocette Utilities")
    expect(cancel).to_be_visible()
    through_to_payment(page)
    expect(cancel).to_be_visible()
    fees = [text.strip() for text in page.locator(".method dd").all_inner_texts()[1::3]]
    assert len(fees) == 2, fees
    expected_fee_text = (
        f"The convenience fee is {fees[0]} whichever way you pay."
        if fees[0] == fees[1]
        else "The convenience fee depends on the payment method"
    )
    expect(page.locator(".lead").first).to_contain_text(expected_fee_text)

    # Declined: still a way back to the portal, not only the browser's Back button.
    pay_by_card(page, DECLINING_CARD, "Alice Anders")
    expect(page.get_by_role("alert")).to_contain_text("Card declined.")
    expect(cancel).to_be_visible()
    run.step("ic-declined-with-cancel-link")
    cancel.click()
    page.wait_for_url(re.compile(re.escape(run.gateway) + r"/#/return/[0-9a-f-]+$"))
    payment_id = page.url.rsplit("/", 1)[-1]
    expect(result_panel(page, "Payment declined")).to_contain_text(
        re.compile(r"You can pay on Invoice Cloud until .+; its invoices stay held until .+, in case a payment")
    )
    run.step("portal-after-cancel")

    # The Pay page shows the session still open, with one primary action: continuing it.
    declined = payment_as_api_sends_it(run, "alice", payment_id)
    assert declined["status"] == "DECLINED" and declined["paymentUrl"] == session_url, declined
    go_to(page, "Pay bills", "Pay bills")
    open_session = page.locator(".notice").filter(has=page.get_by_role("heading", name="Payment in progress"))
    expect(open_session).to_have_count(1)
    held_until = biller_time(declined["invoicesHeldUntil"])
    open_until = biller_time(declined["sessionExpiresAt"])
    expect(open_session.locator(".open-session-text")).to_have_text(  # one deadline to act on, and why the other
        re.compile(
            rf"^You can pay on Invoice Cloud until {spaced(open_until)}; its invoices stay held until "
            rf"{spaced(held_until)}, in case a payment made at the last minute is still on its way, and can be "
            r"paid in a new payment after that\.$"
        )
    )
    expect(open_session).to_contain_text("Your last attempt was declined.")
    expect(page.get_by_label("Invoice INV-1001-2")).to_be_disabled()
    expect(page.get_by_role("main").locator(".button-primary")).to_have_count(1)
    continue_button = open_session.get_by_role("button", name="Continue paying $42.15 on Invoice Cloud")
    expect(continue_button).to_have_class(re.compile(r"\bbutton-primary\b"))
    run.step("pay-open-session")

    # Continued: the same session, approved this time. The minute must not turn between Invoice Cloud's
    # receipt and the postback, for the times to be compared to the minute.
    continue_button.click()
    page.wait_for_url(session_url)
    through_to_payment(page)
    _away_from_a_minute_boundary(run)
    pay_by_card(page, APPROVING_CARD, "Alice Anders")
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible()
    expect(cancel).to_have_count(0)  # the receipt has its own way back
    simulator_date = words(_fact_text(page, "Date"))
    assert payment_id == return_to_portal(run)

    # The banner names what was charged, fee included; the receipt's short reference comes first.
    approved = wait_for_payment(run, "alice", payment_id, lambda payment: payment["status"] == "APPROVED")
    fee = approved.get("convenienceFee")
    charged = str(Decimal(approved["amountPaid"]) + Decimal(fee or "0.00"))  # money: never a float
    banner = result_panel(page, "Payment approved")
    if fee:
        expect(banner).to_contain_text(f"Your payment of ${charged} (including a ${fee} fee) was approved.")
    else:
        expect(banner).to_contain_text(f"Your payment of ${charged} was approved.")
    receipt = payment_view(page)
    reference = receipt.locator("#receipt-reference")
    expect(reference).to_have_text(approved["receiptReference"])
    assert REFERENCE.match(approved["receiptReference"]), approved["receiptReference"]
    first_text = receipt.locator(".receipt-reference, .facts").first
    expect(first_text).to_contain_text(approved["receiptReference"])
    technical = receipt.get_by_role("region", name="Technical references")
    expect_fact(technical, "Payment ID", payment_id)
    portal_date = receipt.locator("dt", has_text=re.compile("^Date$")).locator("xpath=following-sibling::dd[1]")
    expect(portal_date).to_have_text(moment_in_words(approved["completedAt"], BILLER_ZONE))
    run.step("approved-receipt")

    # The same time, with its zone, on the portal, on Invoice Cloud's receipt and in the email.
    assert words(portal_date.inner_text()) == simulator_date, (portal_date.inner_text(), simulator_date)
    assert simulator_date.endswith((" EST", " EDT")), simulator_date
    invoice_cloud_reverses(run, {"billerReference": payment_id, "kind": "VOID"})
    wait_for_payment(run, "alice", payment_id, lambda payment: bool(payment.get("reversals")))
    email = _email_about(run, "alice@example.com", approved["receiptReference"])
    assert f"made on {simulator_date} " in words(email), email


def test_nothing_due_says_so(open_browser: OpenBrowser) -> None:
    run = open_browser(PHONE_390)
    page = run.page
    # Bob's one invoice is paid (through the API and Invoice Cloud's pages, as a payer would).
    client = sandbox_client(run)
    started = client.call(
        "POST",
        "/payments",
        "bob",
        json={"invoices": [{"accountNumber": "ACCT-2001", "invoiceNumber": "INV-2001-1"}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert started.status_code == 201, started.text
    payment = started.json()
    assert client.pay_on_hosted_pages(payment["paymentUrl"]).status_code == 200
    wait_for_payment(run, "bob", payment["paymentId"], lambda answer: answer["status"] == "APPROVED")

    sign_in(run, "bob")
    go_to(page, "Pay bills", "Pay bills")
    empty = page.locator(".notice").filter(has=page.get_by_role("heading", name="Nothing is due"))
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("All the bills on your linked accounts are paid.")
    expect(page.get_by_role("button", name=re.compile("^(Pay|Choose invoices)"))).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    _no_sideways_scroll(run.page)
    run.step("nothing-due")


def test_an_expired_sign_in_says_so_and_signs_in_again(open_browser: OpenBrowser) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    run.allow_http_error(403, "/accounts")  # carol has no linked account yet
    sign_in(run, "carol")

    # The token runs out while a page is open: the header says so then, no longer "Signed in as".
    page.evaluate(
        """() => {
          const key = "avocette.portal.session";
          const session = JSON.parse(sessionStorage.getItem(key));
          sessionStorage.setItem(key, JSON.stringify({ ...session, expiresAt: Date.now() + 2000 }));
        }"""
    )
    run.allow_http_error(403, "/accounts")
    page.reload()
    expect(page.locator("#who")).to_contain_text("Signed in as carol")
    who = page.locator("#who")
    expect(who).to_contain_text("Your sign-in has expired")
    expect(who).not_to_contain_text("Signed in as")
    go_to_sign_in = who.get_by_role("link", name="Sign in again")
    expect(go_to_sign_in).to_be_visible()

    # A page that needs the sign-in leads to the sign-in page, which says why and who it was.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pay bills", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.locator("#expired-notice")).to_have_text("Your sign-in has expired.")
    expect(page.get_by_role("status").filter(has_text="You were signed in as carol")).to_be_visible()
    run.step("sign-in-expired")

    # Signed in again, back where she was going.
    run.allow_http_error(403, "/accounts")
    run.allow_http_error(403, "/payments?limit=50")
    page.get_by_role("button", name="Sign in as carol", exact=True).click()
    expect(page.get_by_role("heading", name="Pay bills", level=1)).to_be_visible()
    expect(who).to_contain_text("Signed in as carol")
    expect(page.locator("#expired-notice")).to_have_count(0)

    # A token the API refuses (401) ends the sign-in the same way.
    page.evaluate(
        """() => {
          const key = "avocette.portal.session";
          const session = JSON.parse(sessionStorage.getItem(key));
          sessionStorage.setItem(key, JSON.stringify({ ...session, token: session.token + "x" }));
        }"""
    )
    run.allow_http_error(401, "/accounts")
    go_to(page, "Accounts", "Your accounts")
    expect(who).to_contain_text("Your sign-in has expired")
    expect(page.get_by_role("link", name="Sign in again").first).to_be_visible()
    run.step("token-refused")


def test_too_many_attempts_say_when_to_try_again(open_browser: OpenBrowser) -> None:
    run = open_browser(PHONE_390)
    page = run.page
    client = sandbox_client(run)
    wrong = {"accounts": [{"accountNumber": "ACCT-3001", "registrationValue": "wrong"}]}
    for _ in range(5):
        assert client.call("POST", "/registrations", "erin", json=wrong).status_code == 200
    refused = client.call("POST", "/registrations", "erin", json=wrong)
    assert (refused.status_code, refused.json()["error"]) == (429, "too_many_attempts"), refused.text
    retry_at = biller_time(refused.json()["details"]["retryAt"])

    run.allow_http_error(403, "/accounts")
    sign_in(run, "erin")
    go_to(page, "Link accounts", "Link your accounts")
    page.get_by_label("Account number").first.fill("ACCT-3001")
    page.get_by_label("Registration value").first.fill("3001-REG")
    run.allow_http_error(429, "/registrations")
    page.get_by_role("button", name="Link accounts").click()
    paused = page.get_by_role("alert").filter(has=page.locator("#rate-limited"))
    expect(paused).to_contain_text("Linking is paused for your security.")
    expect(paused).to_contain_text(re.compile(rf"Please try again after {spaced(retry_at)}\."))
    expect(paused).to_contain_text("check the account number and the registration value printed on your bill")
    _no_sideways_scroll(page)
    run.step("rate-limited")


def test_phone_width_pages_do_not_scroll_sideways(open_browser: OpenBrowser) -> None:
    run = open_browser(PHONE_390)
    page = run.page
    sign_in(run, "alice")
    _no_sideways_scroll(page)
    run.step("phone-accounts")

    # Pay: invoice numbers stay whole on one line.
    go_to(page, "Pay bills", "Pay bills")
    number = page.locator(".pay-item-title .invoice-number", has_text="INV-1002-1")
    expect(number).to_have_count(1)
    _whole_on_one_line(number)
    _no_sideways_scroll(page)
    run.step("phone-pay")

    # The result page of a payment, with its receipt.
    choose_invoices(page, ["INV-1002-1"], "$120.00")
    go_to_invoice_cloud(page, "$120.00", run.simulator)
    _no_sideways_scroll(page)
    run.step("phone-ic-account")
    through_to_payment(page)
    _no_sideways_scroll(page)
    pay_by_card(page, APPROVING_CARD, "Alice Anders")
    return_to_portal(run)
    result_panel(page, "Payment approved")
    expect(payment_view(page).locator("#receipt-reference")).to_have_text(REFERENCE)
    _whole_on_one_line(payment_view(page).locator(".invoice-number").first)
    _whole_on_one_line(payment_view(page).locator(".account-number").first)
    _no_sideways_scroll(page)
    run.step("phone-result")


# ---- helpers -------------------------------------------------------------------------------------


def words(text: str) -> str:
    """Text with every run of white space (Chromium writes a narrow no-break space before "PM") as one space."""
    return re.sub(r"\s+", " ", text).strip()


def biller_time(text: str) -> str:
    """An RFC 3339 time from the API as payers read it: in the biller's zone, "Dec 1, 2026, 7:16 PM EST"."""
    local = parse_moment(text).astimezone(ZoneInfo(BILLER_ZONE))
    return f"{local:%b} {local.day}, {local.year}, {local.hour % 12 or 12}:{local:%M} {local:%p} {local.tzname()}"


def spaced(text: str) -> str:
    """A regular expression for ``text`` in which any white space matches any white space."""
    return r"\s".join(re.escape(part) for part in text.split(" "))


def _fact_text(page: Page, term: str) -> str:
    value = page.locator("dt", has_text=re.compile(f"^{re.escape(term)}$")).locator("xpath=following-sibling::dd[1]")
    expect(value).to_have_count(1)
    return value.inner_text()


def _no_sideways_scroll(page: Page) -> None:
    scroll, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"{page.url} scrolls sideways: scrollWidth {scroll} > clientWidth {client}"


def _whole_on_one_line(element: Locator) -> None:
    """The element's text is laid out on a single line (one client rect)."""
    lines = element.evaluate("(node) => node.getClientRects().length")
    assert lines == 1, f"{element.inner_text()!r} is broken over {lines} lines"


def _away_from_a_minute_boundary(run: BrowserRun) -> None:
    """Wait, if need be, until the sandbox's clock is early in a minute (at most 20 s)."""
    second = sandbox_now(run).second
    if second >= 40:
        time.sleep(60 - second + 1)


def _email_about(run: BrowserRun, to: str, reference: str, timeout: float = 30) -> str:
    """The body of the newest email to ``to`` that names ``reference``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{run.gateway}/dev/mailbox", params={"to": to}, timeout=10)
        assert answer.status_code == 200, answer.text
        for email in answer.json()["messages"]:
            if reference in email["body"]:
                return str(email["body"])
        assert time.monotonic() < deadline, f"no email to {to} names {reference}: {answer.json()}"
        time.sleep(0.3)
