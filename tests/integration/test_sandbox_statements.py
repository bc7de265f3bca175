"""Statement links through the running sandbox, as ``IC_STATEMENT_LINKS=true make dev`` runs it
(DESIGN §6g, §8): a payment's CPV2 request carries a signed link for each invoice with a bill, the
simulator's invoice page shows it, the link redirects to the PDF in the sandbox's S3 (moto), and an
hour later (the sandbox's clock moved) it is gone."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.runner import Sandbox, SandboxPorts
from sandbox.statements import demo_statements
from tests.sandbox_client import SandboxClient

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    saved = os.environ.get("IC_STATEMENT_LINKS")
    os.environ["IC_STATEMENT_LINKS"] = "true"
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        if saved is None:
            os.environ.pop("IC_STATEMENT_LINKS", None)
        else:
            os.environ["IC_STATEMENT_LINKS"] = saved


@pytest.fixture
def client(sandbox: Sandbox) -> SandboxClient:
    return SandboxClient(api=sandbox.gateway_url, simulator=sandbox.simulator_url)


def test_a_payment_hands_invoice_cloud_a_link_to_each_bill_that_opens_it_for_an_hour(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    body = {
        "invoices": [
            {"accountNumber": "ACCT-1001", "invoiceNumber": "INV-1001-1"},
            {"accountNumber": "ACCT-1001", "invoiceNumber": "INV-1001-2"},
        ]
    }
    started = client.call("POST", "/payments", "alice", json=body)
    assert started.status_code == 201, started.text
    session = started.json()["paymentUrl"].rstrip("/").rsplit("/", 1)[-1]
    request: dict[str, Any] = requests.get(f"{sandbox.simulator_url}/_sim/sessions/{session}", timeout=10).json()[
        "request"
    ]
    with_bill, without = request["Customers"][0]["Invoices"]
    assert (with_bill["InvoiceNumber"], without["InvoiceNumber"]) == ("INV-1001-1", "INV-1001-2")
    assert "StatementURL" not in without
    link = with_bill["StatementURL"]
    assert re.fullmatch(rf"{re.escape(sandbox.gateway_url)}/statement-links/v1\.[\w-]+\.[\w-]+", link), link

    # Invoice Cloud's page (the simulator's) shows it beside the invoice.
    page = requests.get(f"{sandbox.simulator_url}/cloudpayments/{session}/invoices", timeout=10)
    assert page.status_code == 200
    assert f"href='{link}'" in page.text and "View bill" in page.text

    # The link redirects to the bill, in the sandbox's S3; no token of the portal's is needed.
    opened = requests.get(link, allow_redirects=False, timeout=10)
    assert opened.status_code == 302, opened.text
    location = opened.headers["Location"]
    assert location.startswith(f"{sandbox.moto_url}/{sandbox.names.inbound_bucket}/statements/2026-11/INV-1001-1.pdf?")
    (demo,) = [bill for bill in demo_statements() if bill.invoice_number == "INV-1001-1"]
    pdf = requests.get(location, timeout=10)
    assert pdf.status_code == 200 and pdf.content == demo.pdf

    # An hour later (the sandbox's clock, for the functions too), the link is gone.
    moved = requests.post(f"{sandbox.gateway_url}/dev/clock", json={"advanceMinutes": 61}, timeout=10)
    assert moved.status_code == 200, moved.text
    expired = requests.get(link, allow_redirects=False, timeout=10)
    assert expired.status_code == 410 and expired.json()["error"] == "link_expired"
