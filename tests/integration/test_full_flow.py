"""The whole payment path through the sandbox, in this process, on free ports: start a payment, pay on
the simulator's hosted pages over HTTP, the postback, APPROVED, balances down; and nothing secret or
personal in any log line on the way."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from avocette import SERVICE_NAME

from sandbox.demo import demo_accounts
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


@pytest.fixture(autouse=True)
def _console(running: tuple[Sandbox, _Everything], capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """What each test printed joins the log lines (the checks at the end look at everything)."""
    yield
    captured = capfd.readouterr()
    running[1].lines.extend((captured.out, captured.err))


def test_alice_pays_two_invoices_and_her_balances_go_down(
    client: SandboxClient, running: tuple[Sandbox, _Everything]
) -> None:
    sandbox, _ = running
    # Given alice owes on two invoices of two accounts
    before = client.call("GET", "/accounts", "alice").json()
    owed = {(a["accountNumber"], i["invoiceNumber"]): i["payable"] for a in before["accounts"] for i in a["invoices"]}
    chosen = [("ACCT-1001", "INV-1001-1"), ("ACCT-1002", "INV-1002-1")]
    assert all(owed[ref] != "0.00" for ref in chosen)

    # When she starts a payment of both
    selection = [{"accountNumber": a, "invoiceNumber": i} for a, i in chosen]
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

    # Then the postback made it APPROVED, and what she owes went down by what she paid
    view = _wait_for_final(client, "alice", payment["paymentId"])
    assert (view["status"], view["final"]) == ("APPROVED", True)
    assert view["amountPaid"] == payment["amountDue"]
    after = client.call("GET", "/accounts", "alice").json()
    payable = {(a["accountNumber"], i["invoiceNumber"]): i["payable"] for a in after["accounts"] for i in a["invoices"]}
    assert [payable[ref] for ref in chosen] == ["0.00", "0.00"]
    assert payable[("ACCT-1001", "INV-1001-2")] == owed[("ACCT-1001", "INV-1001-2")]
    _SEEN.update(payment_url=payment["paymentUrl"], payment_id=payment["paymentId"])


def test_carol_registers_her_accounts_then_pays(client: SandboxClient, running: tuple[Sandbox, _Everything]) -> None:
    sandbox, _ = running
    # Given carol has no linked account yet
    refused = client.call("GET", "/accounts", "carol")
    assert (refused.status_code, refused.json()["error"]) == (403, "registration_required")

    # When she registers her two accounts (one with an unregistered IC record, one with none)
    registered = client.call(
        "POST", "/registrations", "carol",
        json={"accounts": [{"accountNumber": "ACCT-3001", "registrationValue": "3001-REG"},
                           {"accountNumber": "ACCT-3002", "registrationValue": "3002 reg"}]},
    )  # fmt: skip
    assert registered.status_code == 200, registered.text
    body = registered.json()
    assert (body["status"], body["emailSent"]) == ("REGISTERED", True)
    assert [(a["outcome"], a["invoiceCloudRecord"], a["invoiceCloudRegistered"]) for a in body["accounts"]] == [
        ("LINKED", "EXISTING", False),
        ("LINKED", "CREATED", False),
    ]

    # Then the mailbox has her email, with the way to finish at Invoice Cloud
    mailbox = requests.get(f"{sandbox.gateway_url}/dev/mailbox", params={"to": "carol@example.com"}, timeout=10).json()
    (email,) = mailbox["messages"]
    assert "ACCT-3001" in email["body"] and "ACCT-3002" in email["body"]
    assert f"{sandbox.simulator_url}/portal/" in email["body"]

    # And she sees both accounts, and pays both invoices
    accounts = client.call("GET", "/accounts", "carol").json()
    assert [a["accountNumber"] for a in accounts["accounts"]] == ["ACCT-3001", "ACCT-3002"]
    assert accounts["totalDue"] == "155.09"
    selection = [
        {"accountNumber": a["accountNumber"], "invoiceNumber": a["invoices"][0]["invoiceNumber"]}
        for a in accounts["accounts"]
    ]
    payment = client.call("POST", "/payments", "carol", json={"invoices": selection}).json()
    assert client.pay_on_hosted_pages(payment["paymentUrl"]).status_code == 200
    assert _wait_for_final(client, "carol", payment["paymentId"])["status"] == "APPROVED"
    assert client.call("GET", "/accounts", "carol").json()["totalDue"] == "0.00"


def test_nothing_secret_or_personal_was_logged(running: tuple[Sandbox, _Everything]) -> None:
    sandbox, logs = running
    output = "\n".join(logs.lines)
    # the logs were captured, of both flows
    assert "Postback processed" in output and "Payment pending" in output and "Registration processed" in output
    accounts = demo_accounts()
    people = [accounts[number] for number in ("ACCT-1001", "ACCT-1002", "ACCT-3001", "ACCT-3002")]
    forbidden = {
        *sandbox.secrets.all_values(),
        *(value for account in people for value in (account.name, account.address, account.email)),
        *(account.registration_value for account in people),
        "3002 reg",
    }
    if "payment_id" in _SEEN:
        forbidden.add(_postback_token(sandbox, _SEEN["payment_id"]))
        forbidden.add(_SEEN["payment_url"].split("/")[-1])  # the session id opens the payer's payment page
    leaks = sorted(value for value in forbidden if value in output)
    assert not leaks, f"found in logs: {leaks}"


_SEEN: dict[str, str] = {}


def _postback_token(sandbox: Sandbox, payment_id: str) -> str:
    from avocette.security import KeyRing

    return KeyRing.from_secret(sandbox.secrets.postback_keys).postback_token(payment_id)


def _wait_for_final(client: SandboxClient, sub: str, payment_id: str, seconds: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        view: dict[str, Any] = client.call("GET", f"/payments/{payment_id}", sub).json()
        if view.get("final") or time.monotonic() > deadline:
            return view
        time.sleep(0.1)
