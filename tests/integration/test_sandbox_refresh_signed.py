"""The balance refresh with signed calls (``InvoiceCloudRefreshAuth=hmac``) through a sandbox deployed so:
the simulator signs as docs/refresh.md says and gets the balances; a captured call replayed through the
gateway is refused, and so is one whose time is outside the window."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from avocette.security import refresh_signature

from sandbox.runner import Sandbox, SandboxPorts

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0, parameters={"InvoiceCloudRefreshAuth": "hmac"})
    running.start()
    try:
        yield running
    finally:
        running.stop()


def signed(sandbox: Sandbox, account: str, *, at: int | None = None, nonce: str = "") -> dict[str, str]:
    moment = str(int(time.time()) if at is None else at)
    once = nonce or f"test-{time.monotonic_ns()}"
    secret = sandbox.secrets.refresh_credential["secret"].encode()
    return {
        "X-IC-Timestamp": moment,
        "X-IC-Nonce": once,
        "X-IC-Signature": refresh_signature(secret, account, moment, once),
    }


def test_the_simulator_signs_and_gets_the_balances(sandbox: Sandbox) -> None:
    answer = requests.post(f"{sandbox.simulator_url}/_sim/refresh/ACCT-2001", timeout=30).json()
    assert (answer["outcome"], answer["httpStatus"]) == ("REFRESHED", 200)
    assert [(row["invoiceNumber"], row["balanceDue"]) for row in answer["invoices"]] == [("INV-2001-1", "63.75")]


def test_a_captured_call_replayed_through_the_gateway_is_refused(sandbox: Sandbox) -> None:
    url = f"{sandbox.gateway_url}/invoicecloud/accounts/ACCT-1002"
    captured = signed(sandbox, "ACCT-1002")
    first = requests.get(url, headers=captured, timeout=10)
    assert first.status_code == 200 and first.json()["AccountNumber"] == "ACCT-1002"
    replayed = requests.get(url, headers=captured, timeout=10)
    assert replayed.status_code == 401 and replayed.json()["error"] == "unauthorized"
    assert replayed.headers["WWW-Authenticate"] == 'IC-HMAC-SHA256 realm="invoicecloud-refresh"'
    # The same signature on another account's path is no signature of it.
    elsewhere = f"{sandbox.gateway_url}/invoicecloud/accounts/ACCT-1001"
    other = requests.get(elsewhere, headers=signed(sandbox, "ACCT-1002"), timeout=10)
    assert other.status_code == 401
    stale = requests.get(url, headers=signed(sandbox, "ACCT-1002", at=int(time.time()) - 600), timeout=10)
    assert stale.status_code == 401
    basic = requests.get(url, auth=("invoicecloud", sandbox.secrets.refresh_credential["secret"]), timeout=10)
    assert basic.status_code == 401  # the scheme is the stack's: the secret alone is no longer enough
