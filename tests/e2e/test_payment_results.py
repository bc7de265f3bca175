"""The return page after the payer's part is over: a session abandoned on Invoice Cloud's page (the
page stops waiting when the session ends, then shows it expired), a payment Invoice Cloud
reported in a way the backend will not guess at (under review, then closed by ops), and a payment
whose result never arrived (the Pay page asks the payer to check before paying that invoice again).

These tests move the sandbox's clock forward (POST /dev/clock), so they have a sandbox of their own
(the fixture is per module): the other browser tests keep theirs on time. Screenshots of every step
go to tests/e2e/artifacts/<test name>/ (git-ignored).
"""

from __future__ import annotations

import math
import re

import pytest
from avocette.service.review import dismiss_review
from playwright.sync_api import Request, expect

from tests.e2e.browsing import DESKTOP, PHONE, BrowserRun
from tests.e2e.portal import (
    APPROVING_CARD,
    OpenBrowser,
    advance_sandbox_clock,
    choose_invoices,
    configure_simulator,
    expect_fact,
    expect_not_waiting,
    go_to,
    go_to_invoice_cloud,
    history_entry,
    moment_pattern,
    parse_moment,
    pay_by_card,
    payment_as_api_sends_it,
    payment_details,
    result_panel,
    return_to_portal,
    run_scheduled_function,
    sandbox_client,
    sandbox_now,
    sign_in,
    through_to_payment,
)

pytestmark = pytest.mark.e2e

SESSION_GRACE_MINUTES = 15  # how long past its session's end the expiry job leaves a payment PENDING
BILLER_ZONE = "America/New_York"  # BILLER_TIME_ZONE as the sandbox sets it (the template's default)
BROWSER_ZONE = "Europe/Berlin"  # the payer's device: not what any page may use


class PaymentPolls:
    """The requests the browser makes for one payment (GET /payments/{id}), counted as they go out."""

    def __init__(self, run: BrowserRun, payment_id: str) -> None:
        self.url = f"{run.gateway}/payments/{payment_id}"
        self.count = 0
        run.page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        if request.url == self.url:
            self.count += 1


def test_bob_abandons_a_payment_and_the_page_stops_waiting_when_its_session_ends(open_browser: OpenBrowser) -> None:
    run = open_browser(PHONE)
    page = run.page
    page.clock.install()  # the browser's clock, moved forward below with the sandbox's
    sign_in(run, "bob")

    # Bob goes to Invoice Cloud's page and leaves it without paying.
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-2001-1"], "$63.75")
    go_to_invoice_cloud(page, "$63.75", run.simulator)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    run.step("ic-left-unpaid")

    # Back in the portal, his payment waits for Invoice Cloud's result.
    run.open("#/history")
    entry = history_entry(page, "Payment of $63.75")
    expect(entry).to_contain_text("Waiting for confirmation")
    entry.get_by_role("link").click()
    page.wait_for_url(re.compile(re.escape(run.gateway) + r"/#/return/[0-9a-f-]+$"))
    payment_id = page.url.rsplit("/", 1)[-1]
    waiting = result_panel(page, "Waiting for confirmation")
    expect(waiting).to_contain_text("Waiting for the result of your payment from Invoice Cloud.")
    expect(page.get_by_text("Checking for the result…")).to_be_visible()
    run.step("waiting")

    # When the session's end passes on his device, the page stops waiting and says what it means.
    polls = PaymentPolls(run, payment_id)
    ends = parse_moment(payment_as_api_sends_it(run, "bob", payment_id)["sessionExpiresAt"])
    now = page.evaluate("() => Date.now()") / 1000
    page.clock.fast_forward(int((ends.timestamp() - now) * 1000) + 60_000)
    ended = result_panel(page, "Your payment session has ended")
    expect(ended).to_contain_text("Invoice Cloud has not reported a payment for it yet")
    expect(ended).to_contain_text("the result will show here once Invoice Cloud reports it")
    expect(ended).to_contain_text("please do not pay again in the meantime. If you did not pay, no money was taken.")
    expect(ended.get_by_role("button", name="Check again")).to_be_visible()
    expect_not_waiting(page)
    expect_fact(payment_details(page), "Status", "Waiting for confirmation")
    run.step("session-ended")
    polled = polls.count
    page.clock.fast_forward("10:00")
    page.wait_for_timeout(500)
    assert polls.count == polled, "the page went on checking after the session ended"

    # The sandbox's expiry job runs past the session's grace (now, or already on its own schedule):
    # the payment expires.
    advance_sandbox_clock(run, math.ceil((ends - sandbox_now(run)).total_seconds() / 60) + SESSION_GRACE_MINUTES + 1)
    run_scheduled_function(run, "ExpirePaymentsFunction")
    assert payment_as_api_sends_it(run, "bob", payment_id)["status"] == "EXPIRED"

    # "Check again" asks once, and shows the payment expired without a result (never "no money was
    # taken": a result may be lost on the way), the invoice payable again.
    ended.get_by_role("button", name="Check again").click()
    expired = result_panel(page, "Payment session ended")
    expect(expired).to_contain_text("Your payment session ended without a result from Invoice Cloud.")
    expect(expired).not_to_contain_text(re.compile("no money was taken", re.IGNORECASE))
    expect(expired).to_contain_text("Your invoices can be paid again.")
    expect(expired.get_by_role("link", name="Start a new payment")).to_be_visible()
    expect(page.get_by_role("heading", name="Your payment session has ended")).to_have_count(0)
    expect(page.get_by_role("button", name="Check again")).to_have_count(0)
    expect_not_waiting(page)
    expect_fact(payment_details(page), "Status", "Expired")
    assert polls.count == polled + 1
    run.step("expired")

    # His history marks it expired.
    go_to(page, "Payment history", "Payment history")
    entry = history_entry(page, "Payment of $63.75")
    expect(entry.locator(".badge")).to_have_text("Expired")
    expect(entry).to_contain_text(
        "The payment session ended without a result from Invoice Cloud. Please check before paying again."
    )
    expect(entry).not_to_contain_text(re.compile("no money was taken", re.IGNORECASE))
    run.step("history")


def test_alice_payment_is_checked_by_hand_then_closed(open_browser: OpenBrowser) -> None:
    run = open_browser(DESKTOP)
    page = run.page
    configure_simulator(run, invoiceNumberWhenSeveral="firstRequested")
    try:
        sign_in(run, "alice")

        # Alice chooses two invoices, removes the first on Invoice Cloud's page and pays the second:
        # Invoice Cloud's postback names the removed invoice with the other one's amount.
        go_to(page, "Pay bills", "Pay bills")
        choose_invoices(page, ["INV-1001-1", "INV-1001-2"], "$126.35")
        go_to_invoice_cloud(page, "$126.35", run.simulator)
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        page.get_by_role("button", name="Continue", exact=True).click()
        page.get_by_role("button", name="Remove invoice INV-1001-1").click()
        expect(page.locator("#total")).to_have_text("$42.15")
        page.get_by_role("button", name="Continue to billing information").click()
        page.get_by_role("button", name="Continue to payment").click()
        pay_by_card(page, APPROVING_CARD, "Alice Anders")
        payment_id = return_to_portal(run)
    finally:
        configure_simulator(run, invoiceNumberWhenSeveral="blank")

    # The backend does not guess: the payment is checked by hand, and she is told not to pay again.
    review = result_panel(page, "We are checking this payment")
    expect(review).to_contain_text("We received a payment result that we need to check by hand.")
    expect(review).to_contain_text("Please do not pay again")
    expect(review.get_by_role("button", name="Check again")).to_be_visible()
    expect_not_waiting(page)
    details = payment_details(page)
    expect_fact(details, "Payment ID", payment_id)
    expect_fact(details, "Status", "Being checked")
    run.step("needs-review")

    go_to(page, "Payment history", "Payment history")
    entry = history_entry(page, "Payment of $126.35")
    expect(entry.locator(".badge")).to_have_text("Being checked")
    expect(entry).to_contain_text("Please do not pay again.")
    run.step("history-review")

    # Ops find the money was refunded at Invoice Cloud and close the payment without applying it.
    entry.get_by_role("link").click()
    review = result_panel(page, "We are checking this payment")
    dismissed = dismiss_review(payment_id, note="refunded at Invoice Cloud", by="e2e@avocette.example")
    assert dismissed.status == "CLOSED"
    review.get_by_role("button", name="Check again").click()
    closed = result_panel(page, "Payment closed")
    expect(closed).to_contain_text("We reviewed this payment and closed it without applying it to your bills.")
    expect(closed).to_contain_text("Any invoice of this payment that is still due can be paid again.")
    expect(closed.get_by_role("link", name="Pay bills")).to_be_visible()
    expect(page.get_by_role("heading", name="We are checking this payment")).to_have_count(0)
    expect_fact(payment_details(page), "Status", "Closed")
    run.step("closed")

    # Reloaded, the page says the same; the history marks it closed.
    page.reload()
    result_panel(page, "Payment closed")
    go_to(page, "Payment history", "Payment history")
    entry = history_entry(page, "Payment of $126.35")
    expect(entry.locator(".badge")).to_have_text("Closed")
    expect(entry).to_contain_text("Closed without being applied to your bills.")
    run.step("history-closed")


def test_the_portal_warns_before_paying_again_an_invoice_whose_last_session_ended_without_a_result(
    open_browser: OpenBrowser,
) -> None:
    run = open_browser({**DESKTOP, "timezone_id": BROWSER_ZONE})
    page = run.page
    started: list[str] = []  # every POST /payments the browser sends (its URL)

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url == f"{run.gateway}/payments":
            started.append(request.url)

    page.on("request", seen)
    sign_in(run, "alice")

    # Alice pays on Invoice Cloud's page, and its result is lost on the way (no postback arrives).
    go_to(page, "Pay bills", "Pay bills")
    choose_invoices(page, ["INV-1002-1"], "$120.00")
    first_session = go_to_invoice_cloud(page, "$120.00", run.simulator)
    configure_simulator(run, dropPostbacks=True)
    try:
        through_to_payment(page)
        pay_by_card(page, APPROVING_CARD, "Alice Anders")
        payment_id = return_to_portal(run)
    finally:
        configure_simulator(run, dropPostbacks=False)
    result_panel(page, "Waiting for confirmation")
    assert len(started) == 1, started

    # Past the session and its grace, the expiry job ends the payment: the page says no result
    # arrived and asks her to check before paying again; it never says that no money was taken.
    ends = parse_moment(payment_as_api_sends_it(run, "alice", payment_id)["sessionExpiresAt"])
    advance_sandbox_clock(run, math.ceil((ends - sandbox_now(run)).total_seconds() / 60) + SESSION_GRACE_MINUTES + 1)
    run_scheduled_function(run, "ExpirePaymentsFunction")
    expired_payment = payment_as_api_sends_it(run, "alice", payment_id)
    assert expired_payment["status"] == "EXPIRED", expired_payment
    run.open(f"#/return/{payment_id}")
    expired = result_panel(page, "Payment session ended")
    expect(expired).to_contain_text(expired_payment["statusMessage"])
    expect(expired).to_contain_text("Your payment session ended without a result from Invoice Cloud.")
    expect(expired).to_contain_text("Please check your receipt or your card or bank statement before paying again.")
    expect(expired).not_to_contain_text(re.compile("no money was taken", re.IGNORECASE))
    expect_fact(payment_details(page), "Status", "Expired")
    run.step("expired-without-result")

    # The Pay page says when the invoice's last session ended, in the biller's time zone.
    accounts = sandbox_client(run).call("GET", "/accounts", "alice")
    assert accounts.status_code == 200, accounts.text
    invoice = next(
        invoice
        for account in accounts.json()["accounts"]
        for invoice in account["invoices"]
        if invoice["invoiceNumber"] == "INV-1002-1"
    )
    ended_at = invoice["lastSessionEndedWithoutResultAt"]
    go_to(page, "Pay bills", "Pay bills")
    item = page.locator(".pay-item").filter(has=page.get_by_label("Invoice INV-1002-1"))
    ended_in_words = moment_pattern(ended_at, BILLER_ZONE)
    expect(item.locator(".pay-item-warning")).to_have_text(
        re.compile(rf"^A payment session ended on {ended_in_words} without a result from Invoice Cloud\.$")
    )
    expect(page.locator(".pay-item-warning")).to_have_count(1)  # no other invoice has one
    run.step("pay-ended-without-result")

    # Paying it again: first a warning, and nothing is started.
    choose_invoices(page, ["INV-1002-1"], "$120.00")
    pay_button = page.get_by_role("button", name="Pay $120.00 with Invoice Cloud")
    pay_button.click()
    warning = page.locator(".pay-bar .notice-warning")
    expect(warning).to_be_visible()
    expect(warning).to_have_attribute("role", "status")
    title = warning.get_by_role("heading", name="Check before paying again", level=2)
    expect(title).to_be_focused()
    expect(warning).to_contain_text("A payment for invoice INV-1002-1 may already have gone through.")
    expect(warning).to_contain_text(
        "Please check your Invoice Cloud receipt email or your card or bank statement before paying again."
    )
    pay_anyway = warning.get_by_role("button", name="I have checked — pay anyway", exact=True)
    cancel = warning.get_by_role("button", name="Cancel", exact=True)
    expect(pay_anyway).to_be_visible()
    expect(cancel).to_be_visible()
    run.step("check-before-paying-again")
    page.wait_for_timeout(500)
    assert page.url.startswith(run.gateway), page.url
    assert len(started) == 1, started

    # Cancel: the warning goes, nothing was started, and she is back on the pay button.
    cancel.click()
    expect(warning).to_have_count(0)
    expect(pay_button).to_be_focused()
    assert page.url.startswith(run.gateway), page.url
    assert len(started) == 1, started

    # Having checked, she pays anyway: a new session on Invoice Cloud's page.
    pay_button.click()
    expect(title).to_be_focused()
    pay_anyway.click()
    page.wait_for_url(f"{run.simulator}/cloudpayments/*")
    assert page.url != first_session
    assert len(started) == 2, started
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    run.step("ic-paying-again")
