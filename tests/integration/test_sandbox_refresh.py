"""Invoice Cloud's balance refresh through the running sandbox (DESIGN §3, §8): the simulator pulls an
account's balances through the gateway as Invoice Cloud would (the stack's credential, scheme and
format), its customer portal shows them, and its public limits hold (no pull within hours of a
successful one, no refresh of an invoice paid at Invoice Cloud in the last day)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.runner import Sandbox, SandboxPorts
from tests.sandbox_client import SandboxClient

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[SandboxClient]:
    requests.post(f"{sandbox.simulator_url}/_sim/reset", timeout=10).raise_for_status()
    yield SandboxClient(api=sandbox.gateway_url, simulator=sandbox.simulator_url)


def pull(client: SandboxClient, account: str) -> dict[str, Any]:
    """Invoice Cloud pulls the account's balances (``POST /_sim/refresh/{account}``)."""
    answer = requests.post(f"{client.simulator}/_sim/refresh/{account}", timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def bills_page(client: SandboxClient, account: str) -> dict[str, str]:
    """Invoice Cloud's customer portal page of the account: each invoice's status and balance, and the
    line saying where the balances come from (and the warning, when a refresh failed)."""
    page = requests.get(f"{client.simulator}/portal/accounts/{account}", timeout=10)
    assert page.status_code == 200, page.text
    rows = re.findall(
        r'<tr data-invoice="([^"]+)">.*?class="num">([^<]+)</td><td data-label="Status">([^<]+)</td>', page.text
    )
    shown = {html.unescape(number): html.unescape(f"{status} {balance}") for number, balance, status in rows}
    for name, pattern in (
        ("total", r'id="total-due">([^<]+)<'),
        ("source", r'id="balances-source">([^<]+)<'),
        ("warning", r'class="banner warning" role="status">([^<]+)<'),
    ):
        found = re.search(pattern, page.text)
        shown[name] = html.unescape(found.group(1)) if found else ""
    return shown


def final_status(client: SandboxClient, sub: str, payment_id: str) -> str:
    """The payment's status once its postback arrived (the hosted pages deliver it in the background)."""
    deadline = time.monotonic() + 30
    while True:
        view = client.call("GET", f"/payments/{payment_id}", sub).json()
        if view["final"] or time.monotonic() > deadline:
            return str(view["status"])
        time.sleep(0.3)


def advance(client: SandboxClient, minutes: int) -> None:
    """Move the sandbox's clock (the functions' and the simulator's alike)."""
    requests.post(f"{client.api}/dev/clock", json={"advanceMinutes": minutes}, timeout=10).raise_for_status()


def configure(client: SandboxClient, **settings: Any) -> None:
    requests.post(f"{client.simulator}/_sim/config", json=settings, timeout=10).raise_for_status()


def test_a_bill_paid_through_the_portal_stops_showing_as_due_at_invoice_cloud_after_a_refresh(
    client: SandboxClient,
) -> None:
    # Given Invoice Cloud's page shows the biller's invoice load
    before = bills_page(client, "ACCT-1001")
    assert (before["INV-1001-1"], before["INV-1001-2"]) == ("Due $84.20", "Due $42.15")
    assert before["source"].startswith("Balances of the bills Avocette Utilities sent on Nov 1, 2026")
    # When alice pays INV-1001-1 through the portal (Invoice Cloud's hosted pages, card 4111...)
    started = client.call(
        "POST", "/payments", "alice", json={"invoices": [{"accountNumber": "ACCT-1001", "invoiceNumber": "INV-1001-1"}]}
    )
    assert started.status_code == 201, started.text
    receipt = client.pay_on_hosted_pages(started.json()["paymentUrl"])
    assert receipt.status_code == 200 and "Payment successful" in receipt.text, receipt.text[:500]
    assert final_status(client, "alice", started.json()["paymentId"]) == "APPROVED"
    # Then Invoice Cloud's page still shows it due, until a refresh
    assert bills_page(client, "ACCT-1001")["INV-1001-1"] == "Due $84.20"
    refreshed = pull(client, "ACCT-1001")
    assert (refreshed["outcome"], refreshed["httpStatus"], refreshed["source"]) == ("REFRESHED", 200, "refresh")
    after = bills_page(client, "ACCT-1001")
    assert (after["INV-1001-1"], after["INV-1001-2"], after["total"]) == ("Paid $0.00", "Due $42.15", "$42.15")
    assert after["source"].startswith("Balances refreshed from Avocette Utilities on ") and not after["warning"]


def test_no_new_pull_within_hours_of_a_successful_one(client: SandboxClient) -> None:
    assert pull(client, "ACCT-1002")["outcome"] == "REFRESHED"
    again = pull(client, "ACCT-1002")
    assert (again["outcome"], again["reason"]) == ("SKIPPED", "refreshed_recently")
    assert again["nextRefreshAt"] > again["lastRefreshedAt"]
    advance(client, 4 * 60 + 1)  # refreshIntervalHours: 4
    assert pull(client, "ACCT-1002")["outcome"] == "REFRESHED"
    configure(client, refreshIntervalHours=0)
    assert pull(client, "ACCT-1002")["outcome"] == "REFRESHED"


def test_an_invoice_paid_at_invoice_cloud_is_not_refreshed_for_a_day(client: SandboxClient) -> None:
    # bob pays INV-2001-1 on Invoice Cloud's own pages: the biller does not know of it yet
    paid = requests.post(
        f"{client.simulator}/_sim/portal-payments",
        json={"accountNumber": "ACCT-2001", "invoiceNumber": "INV-2001-1"},
        timeout=10,
    )
    assert paid.status_code == 201 and paid.json()["status"] == "PAID", paid.text
    refreshed = pull(client, "ACCT-2001")
    assert refreshed["keptPaidHere"] == ["INV-2001-1"]
    assert bills_page(client, "ACCT-2001")["INV-2001-1"].startswith("Paid (paid here, ")
    # A day later the refresh applies to it again: the biller's balance is the truth once more
    advance(client, 24 * 60 + 1)
    assert pull(client, "ACCT-2001")["keptPaidHere"] == []
    assert bills_page(client, "ACCT-2001")["INV-2001-1"] == "Due $63.75"


def test_a_refused_refresh_leaves_the_balances_and_says_so(client: SandboxClient) -> None:
    configure(client, refreshWrongCredential=True)
    failed = pull(client, "ACCT-3001")
    assert (failed["outcome"], failed["httpStatus"]) == ("FAILED", 401)
    assert failed["error"] == "the biller refused Invoice Cloud's credential"
    page = bills_page(client, "ACCT-3001")
    assert page["INV-3001-1"] == "Due $55.10" and page["source"].startswith("Balances of the bills")
    assert "could not get current balances" in page["warning"] and "refused" in page["warning"]
    configure(client, refreshWrongCredential=False)
    assert pull(client, "ACCT-3001")["outcome"] == "REFRESHED"  # a failure starts no waiting time
    assert bills_page(client, "ACCT-3001")["warning"] == ""


def test_an_account_the_biller_does_not_have(client: SandboxClient) -> None:
    failed = pull(client, "ACCT-0000")
    assert (failed["outcome"], failed["httpStatus"], failed["error"]) == (
        "FAILED",
        404,
        "the biller has no such account",
    )
    state = requests.get(f"{client.simulator}/_sim/refresh/ACCT-0000", timeout=10).json()
    assert state["lastFailure"] == "the biller has no such account" and state["invoices"] == []
    assert requests.get(f"{client.simulator}/portal/accounts/ACCT-0000", timeout=10).status_code == 404


def test_the_endpoint_refuses_whoever_has_not_the_credential(client: SandboxClient, sandbox: Sandbox) -> None:
    bare = requests.get(f"{client.api}/invoicecloud/accounts/ACCT-1001", timeout=10)
    assert bare.status_code == 401 and bare.json()["error"] == "unauthorized"
    assert bare.headers["WWW-Authenticate"].startswith("Basic ")
    # A payer's own token is no credential here: the route is outside the JWT authorizer, and its own
    with_token = client.call("GET", "/invoicecloud/accounts/ACCT-1001", "alice")
    assert (with_token.status_code, with_token.content) == (bare.status_code, bare.content)
    credential = sandbox.secrets.refresh_credential
    good = requests.get(
        f"{client.api}/invoicecloud/accounts/ACCT-1001",
        auth=(credential["username"], credential["secret"]),
        timeout=10,
    )
    assert good.status_code == 200 and good.json()["AccountNumber"] == "ACCT-1001"
