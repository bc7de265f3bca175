"""The whole payment path through the sandbox, in this process, on free ports: start a payment, pay on
the simulator's hosted pages over HTTP, the postback, APPROVED, balances down; and nothing secret or
personal in any log line on the way."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from avocette import SERVICE_NAME
from avocette.domain.billing import InvoiceRef
from avocette.store import billing

from sandbox.demo import DEMO_ACCOUNTS
from sandbox.runner import Sandbox, SandboxPorts
from tests.sandbox_client import SandboxClient

pytestmark = pytest.mark.sandbox


class _Everything(logging.Handler):
    """Keeps every record with all its attributes (extras included), formatted or not."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__!r}")


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Sandbox, _Everything]]:
    lines: list[str] = []
    on_root = _Everything(lines)
    root = logging.getLogger()
    root_level = root.level
    root.addHandler(on_root)
    root.setLevel(logging.INFO)  # what the sandbox and the functions log at
    sandbox = Sandbox(SandboxPorts.free())
    sandbox.start()
    # Then the service's own loggers, with a handler of their own, added only now: Powertools puts a
    # filter on root's handlers that drops its records (so root does not print them twice), and a
    # Powertools logger that already has a handler when made never adds its formatter.
    on_service = _Everything(lines)
    service_loggers = [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name == SERVICE_NAME
    ]
    for logger in service_loggers:
        logger.addHandler(on_service)
    try:
        yield sandbox, on_service
    finally:
        sandbox.stop()
        root.removeHandler(on_root)
        for logger in service_loggers:
            logger.removeHandler(on_service)
        root.setLevel(root_level)


@pytest.fixture
def client(running: tuple[Sandbox, _Everything]) -> SandboxClient:
    sandbox, _ = running
    return SandboxClient(api=sandbox.gateway_url, simulator=sandbox.simulator_url)


def payable(account: str, invoice: str) -> int:
    ref = InvoiceRef(account_number=account, invoice_number=invoice)
    return billing.get_invoices([ref])[ref].payable_cents(24)


def test_start_pay_postback_approved_balances_down(
    running: tuple[Sandbox, _Everything], client: SandboxClient, capfd: pytest.CaptureFixture[str]
) -> None:
    sandbox, logs = running
    # Given alice owes on two invoices of two accounts
    before = {ref: payable(*ref) for ref in (("ACCT-1001", "INV-1001-1"), ("ACCT-1002", "INV-1002-1"))}
    assert all(cents > 0 for cents in before.values())

    # When she starts a payment of both
    selection = [{"accountNumber": a, "invoiceNumber": i} for a, i in before]
    started = client.call(
        "POST", "/payments", "alice", json={"invoices": selection}, headers={"Idempotency-Key": "flow-1"}
    )
    assert started.status_code == 201, started.text
    payment = started.json()
    assert payment["paymentUrl"].startswith(sandbox.simulator_url + "/cloudpayments/")

    # And pays on Invoice Cloud's hosted pages with the approving card
    receipt = client.pay_on_hosted_pages(payment["paymentUrl"])
    assert receipt.status_code == 200 and "Payment successful" in receipt.text
    assert f"#/return/{payment['paymentId']}" in receipt.text

    # Then the postback made it APPROVED, and the balances went down by what was paid
    view = _wait_for_final(client, payment["paymentId"])
    assert (view["status"], view["final"]) == ("APPROVED", True)
    assert view["amountPaid"] == payment["amountDue"]
    assert {ref: payable(*ref) for ref in before} == dict.fromkeys(before, 0)

    # And nothing secret or personal reached a log line or the console on the way
    captured = capfd.readouterr()
    output = "\n".join(logs.lines) + captured.out + captured.err
    assert "Postback processed" in output and "Payment pending" in output  # the logs were captured
    alice = [account for account in DEMO_ACCOUNTS if "alice" in account.linked_to]
    forbidden = {
        *sandbox.secrets.all_values(),
        *(value for account in alice for value in (account.name, account.address, account.email)),
        payment["paymentUrl"].split("/")[-1],  # the session id is a bearer of the payment page
    }
    token = _postback_token(sandbox, payment["paymentId"])
    forbidden.add(token)
    leaks = sorted(value for value in forbidden if value in output)
    assert not leaks, f"found in logs: {leaks}"


def _postback_token(sandbox: Sandbox, payment_id: str) -> str:
    from avocette.security import KeyRing

    return KeyRing.from_secret(sandbox.secrets.postback_keys).postback_token(payment_id)


def _wait_for_final(client: SandboxClient, payment_id: str, seconds: float = 10.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + seconds
    while True:
        view: dict[str, Any] = client.call("GET", f"/payments/{payment_id}", "alice").json()
        if view.get("final") or time.monotonic() > deadline:
            return view
        time.sleep(0.1)
