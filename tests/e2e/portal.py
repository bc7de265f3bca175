"""Steps the browser tests share: the portal's pages and Invoice Cloud's hosted pages (the simulator)
as a payer goes through them, and the sandbox's own controls (its clock, its scheduled functions, the
simulator's settings) that make a payment's later life happen now."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
from playwright.sync_api import Locator, Page, expect

from tests.e2e.browsing import BrowserRun
from tests.sandbox_client import SandboxClient

APPROVING_CARD = "4111111111111111"
DECLINING_CARD = "4000000000000002"
APPROVING_ROUTING_NUMBER = "011000015"  # with any account number not ending in 0002
OpenBrowser = Callable[[dict[str, Any]], BrowserRun]


# ---- the portal ---------------------------------------------------------------------------------


DEMO_USERS = ("alice", "bob", "carol", "dana")


def sign_in(run: BrowserRun, user: str) -> None:
    """With the demo user's own button, or any other user id typed in."""
    run.open("#/signin")
    expect(run.page.get_by_text("This page stands in for the portal's real sign-in.")).to_be_visible()
    if user in DEMO_USERS:
        run.page.get_by_role("button", name=f"Sign in as {user}", exact=True).click()
    else:
        run.page.get_by_label("User id").fill(user)
        run.page.get_by_role("button", name="Sign in", exact=True).click()
    expect(run.page.locator("#who")).to_contain_text(f"Signed in as {user}")
    expect(run.page.get_by_role("heading", name="Your accounts", level=1)).to_be_visible()


def go_to(page: Page, nav_label: str, heading: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=nav_label, exact=True).click()
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_focused()


def register(page: Page, accounts: list[tuple[str, str]]) -> Locator:
    """Fill one row per account on the registration page and submit; answers the outcome section."""
    for index, (number, value) in enumerate(accounts):
        if index:
            page.get_by_role("button", name="Add another account").click()
        page.get_by_label("Account number").nth(index).fill(number)
        page.get_by_label("Registration value").nth(index).fill(value)
    page.get_by_role("button", name="Link accounts").click()
    outcome = page.get_by_role("status").filter(has=page.get_by_role("heading", name="What happened"))
    expect(outcome).to_be_visible()
    return outcome


def invoice_card(page: Page, invoice_number: str) -> Locator:
    return page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=f"Invoice {invoice_number}"))


def expect_fact(container: Locator, term: str, value: str | re.Pattern[str]) -> None:
    """In a <dl>: the description of ``term`` is ``value``."""
    term_element = container.locator("dt", has_text=re.compile(f"^{re.escape(term)}$"))
    expect(term_element.locator("xpath=following-sibling::dd[1]")).to_have_text(value)


def choose_invoices(page: Page, invoices: list[str], total: str) -> None:
    """On the pay page: tick the invoices; the running total and the button follow."""
    for invoice in invoices:
        page.get_by_label(f"Invoice {invoice}").check()
    expect(page.locator("#selected-total")).to_have_text(total)
    expect(page.get_by_role("button", name=f"Pay {total} with Invoice Cloud")).to_be_enabled()


def go_to_invoice_cloud(page: Page, total: str, simulator: str) -> str:
    """Press "Pay … with Invoice Cloud"; answers the simulator's session URL the portal sent us to."""
    page.get_by_role("button", name=f"Pay {total} with Invoice Cloud").click()
    page.wait_for_url(f"{simulator}/cloudpayments/*")
    return page.url


def payment_view(page: Page) -> Locator:
    return page.get_by_role("region", name="Payment receipt")


def receipt_cells(receipt: Locator, invoice_number: str) -> Locator:
    """The amount due and amount paid of one invoice on the receipt."""
    return (
        receipt.get_by_role("row")
        .filter(has=receipt.page.get_by_role("rowheader", name=invoice_number))
        .get_by_role("cell")
    )


# ---- Invoice Cloud's hosted pages (the simulator) -----------------------------------------------


def through_to_payment(page: Page) -> None:
    """Account, invoices and billing information as prefilled, up to the payment page."""
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_role("button", name="Continue", exact=True).click()
    page.get_by_role("button", name="Continue to billing information").click()
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("heading", name="Payment", exact=True)).to_be_visible()


def pay_by_card(page: Page, card: str, name: str) -> None:
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry (MM/YY)").fill("12/39")
    page.get_by_label("Security code (CVV)").fill("123")
    page.get_by_label("Name on card").fill(name)
    page.get_by_role("button", name=re.compile(r"^Pay \$[\d,.]+ by card$")).click()


def pay_from_bank_account(page: Page, routing_number: str, account_number: str) -> None:
    page.get_by_label("Routing number").fill(routing_number)
    page.get_by_label("Account number").fill(account_number)
    page.get_by_label("Account type").select_option("checking")
    page.get_by_role("button", name=re.compile(r"^Pay \$[\d,.]+ from bank account$")).click()


def authorization_code_on_receipt(page: Page) -> str:
    """The "Authorization code" on Invoice Cloud's receipt page."""
    code = page.locator("dt", has_text=re.compile("^Authorization code$")).locator("xpath=following-sibling::dd[1]")
    expect(code).to_have_text(re.compile(r"^\S+$"))
    return code.inner_text().strip()


def return_to_portal(run: BrowserRun) -> str:
    """From Invoice Cloud's receipt back to the portal's return page; answers the payment id."""
    expect(run.page.get_by_role("heading", name="Payment successful")).to_be_visible()
    run.step("ic-receipt")
    run.page.get_by_role("link", name="Return to Avocette Utilities").click()
    run.page.wait_for_url(re.compile(re.escape(run.gateway) + r"/#/return/[0-9a-f-]+$"))
    return run.page.url.rsplit("/", 1)[-1]


# ---- the return page --------------------------------------------------------------------------


def result_panel(page: Page, heading: str) -> Locator:
    """The return page's result: the message box whose heading is ``heading`` (it must be there)."""
    panel = page.locator(".payment-status .notice").filter(has=page.get_by_role("heading", name=heading, level=2))
    expect(panel).to_be_visible()
    return panel


def expect_not_waiting(page: Page) -> None:
    """The return page says nothing of waiting: no spinner, no "Checking…"."""
    expect(page.locator(".spinner")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"^Checking"))).to_have_count(0)


def payment_details(page: Page) -> Locator:
    return page.get_by_role("region", name="Payment details")


def reversals_table(page: Page) -> Locator:
    """The payment page's list of reversals (void, bank return, chargeback)."""
    return page.get_by_role("region", name="Reversals").get_by_role("table")


def reversal_cells(table: Locator, kind_in_words: str) -> Locator:
    """The date and amount of the one reversal whose row reads ``kind_in_words`` (e.g. "Chargeback")."""
    row = table.get_by_role("row").filter(has=table.page.get_by_role("rowheader", name=kind_in_words, exact=True))
    expect(row).to_have_count(1)
    return row.get_by_role("cell")


def moment_in_words(text: str, zone: str) -> re.Pattern[str]:
    """How the portal writes a time from the API (format.js formatMoment, en-US) for a browser in
    ``zone``: "2026-12-02T00:16:40Z" in America/New_York is "Dec 1, 2026, 7:16 PM EST". Chromium's
    ICU may put a narrow no-break space before "PM": any space matches."""
    return re.compile("^" + moment_pattern(text, zone) + "$")


def moment_pattern(text: str, zone: str) -> str:
    """:func:`moment_in_words` as a regular expression to put inside a longer one (not anchored)."""
    local = parse_moment(text).astimezone(ZoneInfo(zone))
    hour = local.hour % 12 or 12
    words = f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {local:%p} {local.tzname()}"
    return re.escape(words).replace(r"\ ", r"\s")


def history_entry(page: Page, amount_text: str) -> Locator:
    """The one history item whose link reads ``amount_text`` (e.g. "Payment of $63.75")."""
    entry = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=amount_text, exact=True))
    expect(entry).to_have_count(1)
    return entry


# ---- the sandbox's own controls -------------------------------------------------------------------


def sandbox_client(run: BrowserRun) -> SandboxClient:
    return SandboxClient(api=run.gateway, simulator=run.simulator)


def payment_as_api_sends_it(run: BrowserRun, sub: str, payment_id: str) -> dict[str, Any]:
    answer = sandbox_client(run).call("GET", f"/payments/{payment_id}", sub)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def advance_sandbox_clock(run: BrowserRun, minutes: int) -> None:
    """Move the functions' and the simulator's clock forward (not the browser's: see page.clock)."""
    answer = requests.post(f"{run.gateway}/dev/clock", json={"advanceMinutes": minutes}, timeout=10)
    assert answer.status_code == 200, answer.text


def sandbox_now(run: BrowserRun) -> datetime:
    """The functions' and the simulator's time (GET /dev/clock)."""
    answer = requests.get(f"{run.gateway}/dev/clock", timeout=10)
    assert answer.status_code == 200, answer.text
    return parse_moment(answer.json()["now"])


def run_scheduled_function(run: BrowserRun, name: str) -> dict[str, Any]:
    answer = requests.post(f"{run.gateway}/dev/run/{name}", timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["result"])


def wait_for_payment(
    run: BrowserRun, sub: str, payment_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    """GET /payments/{id} until ``until(payment)`` holds (e.g. a reconciliation that runs on its own
    after a file lands in S3); answers that payment."""
    deadline = time.monotonic() + timeout
    while True:
        payment = payment_as_api_sends_it(run, sub, payment_id)
        if until(payment):
            return payment
        assert time.monotonic() < deadline, f"payment {payment_id} still as it was after {timeout}s: {payment}"
        time.sleep(0.2)


def invoice_cloud_reverses(run: BrowserRun, *reversals: dict[str, str]) -> dict[str, Any]:
    """Invoice Cloud's payment file of the day, with these reversals (``billerReference``, ``kind``:
    VOID, REFUND, ACH_RETURN, CHARGEBACK or CHARGEBACK_REVERSAL, optionally ``invoiceNumber`` and
    ``amount``), written into the inbound bucket, where it starts the reconciliation (asynchronously).
    Answers {bucket, key, rows}."""
    answer = requests.post(f"{run.simulator}/_sim/payment-files", json={"reversals": list(reversals)}, timeout=30)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def configure_simulator(run: BrowserRun, **settings: Any) -> None:
    answer = requests.post(f"{run.simulator}/_sim/config", json=settings, timeout=10)
    assert answer.status_code == 200, answer.text


def parse_moment(text: str) -> datetime:
    """An RFC 3339 time from the API."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
