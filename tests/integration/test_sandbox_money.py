"""Money safety black-box on the running sandbox, as a payer, Invoice Cloud and ops would see it:
an invoice paid twice goes to review with one credit, an abandoned session expires and a late
approval still lands, and a payment under review is settled from the command line (``python -m
tools review``) against the sandbox's own endpoint."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from avocette.store.table import deserialize

from sandbox.runner import Sandbox, SandboxPorts
from tests.sandbox_client import SandboxClient

pytestmark = pytest.mark.sandbox

GRACE_AND_SESSION_MINUTES = 30 + 15 + 1


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0)  # the tests run the expiry job themselves
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[SandboxClient]:
    requests.post(f"{sandbox.simulator_url}/_sim/reset", timeout=10).raise_for_status()
    yield SandboxClient(api=sandbox.gateway_url, simulator=sandbox.simulator_url)


def start(client: SandboxClient, sub: str, invoices: list[tuple[str, str]]) -> dict[str, Any]:
    body = {"invoices": [{"accountNumber": a, "invoiceNumber": i} for a, i in invoices]}
    answer = client.call("POST", "/payments", sub, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def complete(client: SandboxClient, payment_url: str, **body: Any) -> dict[str, Any]:
    session = payment_url.rstrip("/").rsplit("/", 1)[-1]
    answer = requests.post(
        f"{client.simulator}/_sim/sessions/{session}/complete",
        json={"outcome": "approve", "method": "CARD", **body},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def view(client: SandboxClient, sub: str, payment_id: str) -> dict[str, Any]:
    answer = client.call("GET", f"/payments/{payment_id}", sub)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def invoice(client: SandboxClient, sub: str, account: str, number: str) -> dict[str, Any]:
    accounts = client.call("GET", "/accounts", sub).json()["accounts"]
    (found,) = [
        i for a in accounts if a["accountNumber"] == account for i in a["invoices"] if i["invoiceNumber"] == number
    ]
    return dict(found)


def advance(sandbox: Sandbox, minutes: int) -> None:
    answer = requests.post(f"{sandbox.gateway_url}/dev/clock", json={"advanceMinutes": minutes}, timeout=10)
    assert answer.status_code == 200, answer.text


def run_expiry(sandbox: Sandbox) -> dict[str, Any]:
    answer = requests.post(f"{sandbox.gateway_url}/dev/run/ExpirePaymentsFunction", timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["result"])


def stored_invoice(sandbox: Sandbox, account: str, number: str) -> dict[str, Any]:
    """The invoice item as the table holds it, read straight from the sandbox's moto."""
    dynamodb = boto3.client("dynamodb", endpoint_url=sandbox.moto_url)
    key = {"PK": {"S": f"ACCOUNT#{account}"}, "SK": {"S": f"INVOICE#{number}"}}
    raw = dynamodb.get_item(TableName=sandbox.names.app_table, Key=key, ConsistentRead=True)["Item"]
    return deserialize(raw)


def tools(sandbox: Sandbox, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", "--endpoint", sandbox.moto_url, "review", "--table", sandbox.names.app_table,
         *arguments],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_invoice_paid_on_two_open_pages_is_credited_once_and_the_second_goes_to_review(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    # Invoice Cloud's page outlives ours: the payer keeps payment A's tab open past its expiry.
    requests.post(f"{client.simulator}/_sim/config", json={"sessionMinutes": 240}, timeout=10).raise_for_status()
    first = start(client, "bob", [("ACCT-2001", "INV-2001-1")])
    advance(sandbox, GRACE_AND_SESSION_MINUTES)
    assert run_expiry(sandbox)["expired"] >= 1
    assert view(client, "bob", first["paymentId"])["status"] == "EXPIRED"

    second = start(client, "bob", [("ACCT-2001", "INV-2001-1")])
    complete(client, second["paymentUrl"])
    complete(client, first["paymentUrl"])  # the old tab: money moves a second time

    paid, late = view(client, "bob", second["paymentId"]), view(client, "bob", first["paymentId"])
    assert (paid["status"], paid["amountPaid"]) == ("APPROVED", "63.75")
    assert (late["status"], late["final"]) == ("NEEDS_REVIEW", True)
    assert "amountPaid" not in late
    assert invoice(client, "bob", "ACCT-2001", "INV-2001-1")["payable"] == "0.00"
    credits = stored_invoice(sandbox, "ACCT-2001", "INV-2001-1")["credits"]
    assert [(c["paymentId"], c["cents"]) for c in credits.values()] == [(second["paymentId"], 6375)]

    listed = tools(sandbox, "list", "--reason", "duplicate_payment")
    assert listed.returncode == 0, listed.stderr
    assert first["paymentId"] in listed.stdout and second["paymentId"] not in listed.stdout

    # Ops refund the second charge at Invoice Cloud and close the payment; its credit can never land.
    refused = tools(
        sandbox, "apply", first["paymentId"], "--allocation", "INV-2001-1=63.75", "--note", "try", "--by", "ops"
    )
    assert refused.returncode == 1 and "another payment paid it" in refused.stderr
    dismissed = tools(sandbox, "dismiss", first["paymentId"], "--note", "refunded at IC, ticket 4711", "--by", "ops")
    assert dismissed.returncode == 0, dismissed.stderr
    closed = view(client, "bob", first["paymentId"])
    assert (closed["status"], closed["final"]) == ("CLOSED", True)
    assert first["paymentId"] not in tools(sandbox, "list").stdout


def test_an_abandoned_session_expires_and_a_late_approval_is_still_applied(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    payment = start(client, "alice", [("ACCT-1002", "INV-1002-1")])
    assert view(client, "alice", payment["paymentId"])["status"] == "PENDING"
    run_expiry(sandbox)
    assert view(client, "alice", payment["paymentId"])["status"] == "PENDING"

    advance(sandbox, GRACE_AND_SESSION_MINUTES)
    run_expiry(sandbox)
    expired = view(client, "alice", payment["paymentId"])
    assert (expired["status"], expired["final"]) == ("EXPIRED", True)
    assert invoice(client, "alice", "ACCT-1002", "INV-1002-1")["payable"] == "120.00"

    complete(client, payment["paymentUrl"], ignoreExpiry=True)  # money moved anyway
    approved = view(client, "alice", payment["paymentId"])
    assert (approved["status"], approved["amountPaid"]) == ("APPROVED", "120.00")
    assert approved["authorization"].startswith("APPROVED ")
    assert invoice(client, "alice", "ACCT-1002", "INV-1002-1")["payable"] == "0.00"


def test_a_payment_under_review_is_shown_and_applied_from_the_command_line(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    # Invoice Cloud names the first requested invoice after the payer removed it: not guessed, reviewed.
    requests.post(
        f"{client.simulator}/_sim/config", json={"invoiceNumberWhenSeveral": "firstRequested"}, timeout=10
    ).raise_for_status()
    payment = start(client, "alice", [("ACCT-1001", "INV-1001-1"), ("ACCT-1001", "INV-1001-2")])
    payment_id = payment["paymentId"]
    complete(client, payment["paymentUrl"], removeInvoices=["INV-1001-1"])
    assert view(client, "alice", payment_id)["status"] == "NEEDS_REVIEW"

    shown = tools(sandbox, "show", payment_id)
    assert shown.returncode == 0, shown.stderr
    assert "partial_not_allowed" in shown.stdout and "INV-1001-2" in shown.stdout

    applied = tools(sandbox, "apply", payment_id, "--allocation", "INV-1001-2=42.15", "--note", "IC: paid INV-1001-2")
    assert applied.returncode == 0, applied.stderr
    settled = view(client, "alice", payment_id)
    assert (settled["status"], settled["amountPaid"]) == ("APPROVED", "42.15")
    assert invoice(client, "alice", "ACCT-1001", "INV-1001-2")["payable"] == "0.00"
    assert invoice(client, "alice", "ACCT-1001", "INV-1001-1")["payable"] == "84.20"
    again = tools(sandbox, "dismiss", payment_id, "--note", "twice", "--by", "ops")
    assert again.returncode == 1 and "not NEEDS_REVIEW" in again.stderr
