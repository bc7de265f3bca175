"""The simulator's injectable clock, part payments, expired sessions and configurable postback fields.

Same style as ``test_simulator.py`` (whose HTTP helpers this module uses), over real HTTP, but with
a clock frozen at 2026-11-25 19:15:02 UTC that a test moves forward, so that every time the
simulator shows can be asserted exactly and expiry is seen without waiting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from werkzeug.test import Client

from sandbox.invoicecloud import DEFAULT_CONFIG, AdjustableClock, InvoiceCloudSimulator
from sandbox.serving import RunningServer, start_server
from tests.integration.test_simulator import (
    API_KEY,
    BILLER_GUID,
    BILLER_NAME,
    POSTBACK_FIELDS,
    WEB_SERVICE_KEY,
    PostbackReceiver,
    SimClient,
    _text,
    cpv2_request,
)

FROZEN_AT = datetime(2026, 11, 25, 19, 15, 2, tzinfo=UTC)  # 02:15:02 PM in Massachusetts (EST)
CARD = {"method": "CARD", "card_number": "4111111111111111", "expiry": "12/39", "cvv": "123", "name_on_card": "A"}
ACH = {"method": "ACH", "routing_number": "011000015", "account_number": "123456789", "account_type": "checking"}
PART_PAYMENTS = "How much would you like to pay?"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def module_clock() -> AdjustableClock:
    return AdjustableClock(start=FROZEN_AT)


@pytest.fixture
def clock(module_clock: AdjustableClock) -> Iterator[AdjustableClock]:
    module_clock.reset()
    yield module_clock
    module_clock.reset()


@pytest.fixture(scope="module")
def simulator(module_clock: AdjustableClock) -> Iterator[tuple[InvoiceCloudSimulator, RunningServer]]:
    sim = InvoiceCloudSimulator(
        api_key=API_KEY,
        biller_guid=BILLER_GUID,
        web_service_key=WEB_SERVICE_KEY,
        biller_name=BILLER_NAME,
        clock=module_clock,
    )
    server = start_server(sim, 0, name="ic-features")
    sim.base_url = server.url
    yield sim, server
    sim.reset()
    server.stop()


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[PostbackReceiver]:
    receiver = PostbackReceiver()
    receiver.server = start_server(receiver, 0, name="postbacks-features")
    yield receiver
    receiver.server.stop()


@pytest.fixture
def receiver(module_receiver: PostbackReceiver) -> PostbackReceiver:
    module_receiver.clear()
    return module_receiver


@pytest.fixture
def ic(simulator: tuple[InvoiceCloudSimulator, RunningServer], clock: AdjustableClock) -> Iterator[SimClient]:
    sim, server = simulator
    sim.reset()
    client = SimClient(server.url)
    assert client.configure(postbackRetryDelaySeconds=0.05).status_code == 200
    yield client
    sim.reset()


def part_payment_request(postback_url: str = "https://api.example.com/postback/pay-1?token=x") -> dict[str, Any]:
    """The usual request (10.00 + 25.50 on ACCT-1001, 5.25 on ACCT-1002; card fees 1.00, ACH 0.50), where
    INV-1001-2 may be part-paid down to a minimum of 10.00 and INV-1002-1 may be part-paid freely."""
    body = cpv2_request(postback_url)
    body["Customers"][0]["Invoices"][1].update(AllowPartialPayments=True, MinimumAmountDue=10.00)
    body["Customers"][1]["Invoices"][0].update(AllowPartialPayments=True)
    return body


def hosted(ic: SimClient, session_id: str, step: str = "") -> str:
    return f"{ic.url}/cloudpayments/{session_id}" + (f"/{step}" if step else "")


def amount_field(html: str, name: str) -> str | None:
    """The value an amount input shows, or ``None`` when the page has no such input."""
    match = re.search(rf'<input id="{name}" name="{name}" type="text" inputmode="decimal" value="([^"]*)"', html)
    return match.group(1) if match else None


# --------------------------------------------------------------------------- the clock


def test_session_times_payment_date_and_receipt_follow_the_injected_clock(
    ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock
) -> None:
    # Given a session opened at the frozen time
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    session = ic.session(session_id)
    assert (session["createdAt"], session["expiresAt"]) == ("2026-11-25T19:15:02.000Z", "2026-11-25T19:45:02.000Z")
    # When ten minutes pass on the clock and the payer pays on the hosted page
    clock.advance(timedelta(minutes=10))
    receipt = requests.post(hosted(ic, session_id, "payment"), data=CARD, timeout=10)
    # Then the attempt, the postback's PaymentDate (Eastern time) and the receipt all carry that time
    [attempt] = ic.session(session_id)["attempts"]
    assert attempt["at"] == "2026-11-25T19:25:02.000Z"
    [postback] = receiver.wait_for(1)
    assert postback.form["PaymentDate"] == "11/25/2026 02:25:02 PM"
    assert "Nov 25, 2026, 2:25 PM EST" in receipt.text
    [record] = ic.session(session_id)["postbacks"]
    assert record["attempts"][0]["at"] == "2026-11-25T19:25:02.000Z"


def test_expiry_follows_the_clock(ic: SimClient, clock: AdjustableClock) -> None:
    # Given a session living the default 30 minutes
    session_id = ic.create_session(cpv2_request())
    # When 29:59 have passed, it is still open
    clock.advance(timedelta(minutes=29, seconds=59))
    assert ic.session(session_id)["state"] == "OPEN"
    assert requests.get(hosted(ic, session_id), timeout=10).status_code == 200
    # When the 30th minute is over, it is expired everywhere at once
    clock.advance(timedelta(seconds=1))
    assert ic.session(session_id)["state"] == "EXPIRED"
    listed = requests.get(f"{ic.url}/_sim/sessions", timeout=10).json()["sessions"]
    assert [s["state"] for s in listed] == ["EXPIRED"]
    assert requests.get(hosted(ic, session_id, "payment"), timeout=10).status_code == 410
    completed = ic.complete(session_id, outcome="approve")
    assert (completed.status_code, completed.json()["error"]) == (409, "session_not_open")


def test_a_session_can_live_longer_than_ours(ic: SimClient, clock: AdjustableClock) -> None:
    # Given Invoice Cloud keeping sessions four hours
    ic.configure(sessionMinutes=240)
    session_id = ic.create_session(cpv2_request())
    # When three hours pass (far beyond any session lifetime of our own)
    clock.advance(timedelta(hours=3))
    # Then the page is still open and the payment goes through
    assert requests.get(hosted(ic, session_id), timeout=10).status_code == 200
    response = ic.complete(session_id, outcome="approve")
    assert response.status_code == 200 and response.json()["attempt"]["afterExpiry"] is False


def test_card_expiry_is_judged_by_the_clock(ic: SimClient, clock: AdjustableClock) -> None:
    # Given the clock moved to January 2040
    clock.advance(datetime(2040, 1, 15, tzinfo=UTC) - FROZEN_AT)
    session_id = ic.create_session(cpv2_request())
    # Then a card expiring 12/39 is in the past, one expiring 01/40 is fine
    past = requests.post(hosted(ic, session_id, "payment"), data=CARD, timeout=10)
    assert past.status_code == 400 and "Enter the expiry date as MM/YY, not in the past." in past.text
    current = requests.post(hosted(ic, session_id, "payment"), data={**CARD, "expiry": "01/40"}, timeout=10)
    assert current.url.endswith("/receipt")


def _in_process(clock: Any = None) -> tuple[InvoiceCloudSimulator, Client]:
    sim = InvoiceCloudSimulator(api_key=API_KEY, biller_guid=BILLER_GUID, web_service_key=WEB_SERVICE_KEY, clock=clock)
    return sim, Client(sim)


def _open_in_process(client: Client) -> str:
    response = client.post("/cloudpaymentsapi/v2", json=cpv2_request(), auth=(API_KEY, ""))
    assert response.status_code == 200, response.text
    return str(response.json["Data"]["CloudPaymentURL"].rsplit("/", 1)[1])


def test_the_default_clock_is_real_utc_time_in_whole_seconds() -> None:
    # Given a simulator built without a clock
    _, client = _in_process()
    before = datetime.now(UTC).replace(microsecond=0)
    session_id = _open_in_process(client)
    after = datetime.now(UTC)
    # Then the session was created now, in whole seconds
    created = client.get(f"/_sim/sessions/{session_id}").json["createdAt"]
    assert created.endswith(".000Z")
    assert before <= datetime.fromisoformat(created.replace("Z", "+00:00")) <= after


def test_a_naive_clock_is_read_as_utc() -> None:
    # Given a clock answering a datetime without a time zone
    _, client = _in_process(lambda: datetime(2026, 1, 2, 3, 4, 5))
    # Then it is taken as UTC, not as the machine's local time
    session = client.get(f"/_sim/sessions/{_open_in_process(client)}").json
    assert session["createdAt"] == "2026-01-02T03:04:05.000Z"


# --------------------------------------------------------------------------- part payments on the hosted pages


def test_hosted_part_payment_walk_through(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given a session where two of three invoices may be part-paid
    session_id = ic.create_session(part_payment_request(receiver.postback_url))
    browser = requests.Session()
    # When the payer reaches the invoices page
    invoices = browser.get(hosted(ic, session_id, "invoices"), timeout=10)
    # Then it asks how much to pay on those two only, prefilled with the balances, minimum shown
    assert PART_PAYMENTS in invoices.text
    assert amount_field(invoices.text, "amount-0-0") is None
    assert (amount_field(invoices.text, "amount-0-1"), amount_field(invoices.text, "amount-1-0")) == ("25.50", "5.25")
    assert "Balance $25.50 · minimum amount due $10.00" in invoices.text
    assert "Amount to pay on invoice INV-1001-2 (account ACCT-1001)" in invoices.text
    # When the payer pays 12.34 on one and $5.00 on the other, and continues
    form = {"action": "continue", "amount-0-1": "12.34", "amount-1-0": "$5.00"}
    billing = browser.post(hosted(ic, session_id, "invoices"), data=form, timeout=10)
    assert billing.url.endswith("/billing")
    # Then the payment page asks for 10.00 + 12.34 + 5.00 = 27.34 (30.34 with the three card fees)
    payment = browser.get(hosted(ic, session_id, "payment"), timeout=10)
    assert "$27.34" in payment.text and "$30.34" in payment.text
    # And back on the invoices page the chosen amounts are shown, and the total to pay
    again = browser.get(hosted(ic, session_id, "invoices"), timeout=10)
    assert (amount_field(again.text, "amount-0-1"), amount_field(again.text, "amount-1-0")) == ("12.34", "5.00")
    assert "Total to pay $27.34" in _text(again.text)
    # When the payer pays by card
    receipt = browser.post(hosted(ic, session_id, "payment"), data=CARD, timeout=10)
    # Then the receipt, the control API and the postback all show the chosen amounts
    assert "$12.34" in receipt.text and "$5.00" in receipt.text and "$27.34" in receipt.text
    session = ic.session(session_id)
    [attempt] = session["attempts"]
    assert attempt["amount"] == "27.34" and attempt["fee"] == "3.00"
    assert [(i["invoiceNumber"], i["amount"], i["balanceDue"]) for i in attempt["invoices"]] == [
        ("INV-1001-1", "10.00", "10.00"),
        ("INV-1001-2", "12.34", "25.50"),
        ("INV-1002-1", "5.00", "5.25"),
    ]
    assert [(i["invoiceNumber"], i["amount"], i["minimumAmountDue"]) for i in session["invoices"]] == [
        ("INV-1001-1", "10.00", None),
        ("INV-1001-2", "12.34", "10.00"),
        ("INV-1002-1", "5.00", None),
    ]
    [postback] = receiver.wait_for(1)
    assert (postback.form["PaymentAmount"], postback.form["ConvenienceFee"]) == ("27.34", "3.00")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "Enter an amount greater than $0.00."),
        ("25.51", "Enter at most the balance, $25.50."),
        ("9.99", "Enter at least the minimum amount due, $10.00."),
        ("12.345", "Enter an amount in dollars and cents, like 25.00."),
        ("-5", "Enter an amount in dollars and cents, like 25.00."),
        ("", "Enter an amount in dollars and cents, like 25.00."),
        ('"><script>alert(1)</script>', "Enter an amount in dollars and cents, like 25.00."),
    ],
)
def test_hosted_part_payment_refuses_bad_amounts(ic: SimClient, typed: str, message: str) -> None:
    # Given the invoices page of a session with part payments
    session_id = ic.create_session(part_payment_request())
    # When the payer continues with a bad amount
    response = requests.post(
        hosted(ic, session_id, "invoices"), data={"action": "continue", "amount-0-1": typed}, timeout=10
    )
    # Then the same page comes back with the field's error, what was typed (escaped), and nothing kept
    assert response.status_code == 400
    assert "Please correct the amounts marked below." in response.text
    assert f'<p class="field-error" id="amount-0-1-error">{message}</p>' in response.text
    assert 'aria-invalid="true"' in response.text
    assert "<script>alert(1)" not in response.text
    assert [i["amount"] for i in ic.session(session_id)["invoices"]] == ["10.00", "25.50", "5.25"]


def test_hosted_minimum_is_not_enforced_when_configured_off(ic: SimClient) -> None:
    # Given a session whose INV-1001-2 has a minimum of 10.00, not enforced
    ic.configure(enforceMinimumAmount=False)
    session_id = ic.create_session(part_payment_request())
    # When the payer pays 0.01 on it
    response = requests.post(
        hosted(ic, session_id, "invoices"), data={"action": "continue", "amount-0-1": "0.01"}, timeout=10
    )
    # Then it is accepted
    assert response.url.endswith("/billing")
    assert ic.session(session_id)["invoices"][1]["amount"] == "0.01"


def test_a_minimum_above_the_balance_asks_for_the_balance(ic: SimClient) -> None:
    # Given an invoice of 25.50 with a minimum of 50.00
    body = part_payment_request()
    body["Customers"][0]["Invoices"][1]["MinimumAmountDue"] = 50.00
    session_id = ic.create_session(body)
    page = requests.get(hosted(ic, session_id, "invoices"), timeout=10).text
    # Then the balance is the minimum: less is refused, the balance is accepted
    assert "Balance $25.50 · minimum amount due $25.50" in page
    url = hosted(ic, session_id, "invoices")
    assert requests.post(url, data={"action": "continue", "amount-0-1": "25.00"}, timeout=10).status_code == 400
    assert requests.post(url, data={"action": "continue", "amount-0-1": "25.50"}, timeout=10).url.endswith("/billing")


def test_invoices_without_part_payments_are_paid_in_full(ic: SimClient) -> None:
    # Given a session where no invoice allows part payments
    session_id = ic.create_session(cpv2_request())
    page = requests.get(hosted(ic, session_id, "invoices"), timeout=10).text
    # Then the invoices page asks nothing, and a posted amount field is ignored
    assert PART_PAYMENTS not in page and 'inputmode="decimal"' not in page
    data = {"action": "continue", "amount-0-0": "1.00"}
    assert requests.post(hosted(ic, session_id, "invoices"), data=data, timeout=10).url.endswith("/billing")
    assert ic.complete(session_id, outcome="approve").json()["attempt"]["amount"] == "40.75"


def test_continuing_without_the_amount_fields_pays_in_full(ic: SimClient) -> None:
    # Given a session with part payments, and a client that posts only "continue" (as older walkers do)
    session_id = ic.create_session(part_payment_request())
    response = requests.post(hosted(ic, session_id, "invoices"), data={"action": "continue"}, timeout=10)
    # Then it moves on, and every invoice is paid in full
    assert response.url.endswith("/billing")
    assert ic.complete(session_id, outcome="approve").json()["attempt"]["amount"] == "40.75"


# --------------------------------------------------------------------------- part payments through the control API


def test_complete_with_amounts_pays_them_in_each_postback(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given postbacks per account and a session with part payments
    ic.configure(postbackMode="perAccount")
    session_id = ic.create_session(part_payment_request(receiver.postback_url))
    # When a test pays 12.34 (as text) and 5 (as a JSON number) on the two invoices that allow it
    response = ic.complete(session_id, outcome="approve", amounts={"INV-1001-2": "12.34", "INV-1002-1": 5})
    # Then the attempt and each account's postback carry those amounts
    assert response.status_code == 200, response.text
    assert response.json()["attempt"]["amount"] == "27.34"
    forms = [p.form for p in receiver.wait_for(2)]
    assert [(f["InvoiceNumber"], f["PaymentAmount"], f["ConvenienceFee"]) for f in forms] == [
        ("", "22.34", "3.00"),
        ("INV-1002-1", "5.00", "0.00"),
    ]
    assert [i["amount"] for i in ic.session(session_id)["invoices"]] == ["10.00", "12.34", "5.00"]


def test_complete_reads_json_numbers_exactly(ic: SimClient) -> None:
    # Given a session with part payments
    session_id = ic.create_session(part_payment_request())
    # When amounts come as JSON numbers with decimals
    body = '{"outcome": "approve", "amounts": {"INV-1001-2": 12.5, "INV-1002-1": 0.10}}'
    response = requests.post(
        f"{ic.url}/_sim/sessions/{session_id}/complete",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    # Then they are read as the decimals written, not as floats
    assert response.status_code == 200, response.text
    assert [i["amount"] for i in response.json()["attempt"]["invoices"]] == ["10.00", "12.50", "0.10"]


@pytest.mark.parametrize(
    ("amounts", "error"),
    [
        ({"INV-1001-1": "5.00"}, "partial_not_allowed"),
        ({"INV-1001-1": "10.00"}, "partial_not_allowed"),
        ({"INV-1001-2": "0"}, "invalid_amount"),
        ({"INV-1001-2": "25.51"}, "invalid_amount"),
        ({"INV-1001-2": "9.99"}, "invalid_amount"),
        ({"INV-1001-2": "12.345"}, "invalid_amount"),
        ({"INV-1001-2": "twelve"}, "invalid_amount"),
        ({"INV-1001-2": True}, "invalid_amount"),
        ({"INV-1001-2": None}, "invalid_amount"),
        ({"INV-1002-1": "1.00", "INV-1001-2": "1.00"}, "invalid_amount"),
        ({"INV-9999": "1.00"}, "unknown_invoice"),
        (["INV-1001-2"], "invalid_request"),
    ],
)
def test_complete_refuses_bad_amounts_and_changes_nothing(ic: SimClient, amounts: Any, error: str) -> None:
    # Given a session with part payments
    session_id = ic.create_session(part_payment_request())
    # When a test completes it with a bad amount
    response = ic.complete(session_id, outcome="approve", amounts=amounts)
    # Then it is refused, naming why, and the session is as it was
    assert (response.status_code, response.json()["error"]) == (400, error)
    session = ic.session(session_id)
    assert session["attempts"] == [] and session["state"] == "OPEN"
    assert [i["amount"] for i in session["invoices"]] == ["10.00", "25.50", "5.25"]


def test_complete_refuses_an_amount_for_an_invoice_it_removes(ic: SimClient) -> None:
    # Given a session with part payments
    session_id = ic.create_session(part_payment_request())
    # When a test removes an invoice and pays part of it in the same call
    response = ic.complete(session_id, outcome="approve", removeInvoices=["INV-1001-2"], amounts={"INV-1001-2": "5"})
    # Then it is refused, and the invoice was not removed either
    assert (response.status_code, response.json()["error"]) == (400, "unknown_invoice")
    assert ic.session(session_id)["removedInvoices"] == []


def test_minimum_is_not_enforced_through_the_control_api_when_configured_off(ic: SimClient) -> None:
    ic.configure(enforceMinimumAmount=False)
    session_id = ic.create_session(part_payment_request())
    response = ic.complete(session_id, outcome="approve", amounts={"INV-1001-2": "0.01"})
    assert response.status_code == 200, response.text
    assert response.json()["attempt"]["amount"] == "15.26"


# --------------------------------------------------------------------------- InvoiceNumber: first requested


@pytest.mark.parametrize(
    ("mode", "when_several", "expected"),
    [
        ("single", "firstRequested", ["INV-1001-1"]),
        ("single", "first", ["INV-1001-2"]),
        ("single", "blank", [""]),
        ("perAccount", "firstRequested", ["INV-1001-1", "INV-1002-1"]),
        ("perAccount", "first", ["INV-1001-2", "INV-1002-1"]),
        ("perInvoice", "firstRequested", ["INV-1001-2", "INV-1002-1"]),
    ],
)
def test_invoice_number_of_the_first_requested_invoice_even_when_removed(
    ic: SimClient, receiver: PostbackReceiver, mode: str, when_several: str, expected: list[str]
) -> None:
    # Given a postback mode and InvoiceNumber rule, and a session of three invoices on two accounts
    assert ic.configure(postbackMode=mode, invoiceNumberWhenSeveral=when_several).status_code == 200
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payer removes the first requested invoice and pays the other two
    response = ic.complete(session_id, outcome="approve", removeInvoices=["INV-1001-1"])
    # Then "firstRequested" names the removed invoice where a postback covers its account
    assert [record["fields"]["InvoiceNumber"] for record in response.json()["postbacks"]] == expected
    assert [p.form["InvoiceNumber"] for p in receiver.wait_for(len(expected))] == expected


# --------------------------------------------------------------------------- paying an expired session


def test_an_expired_session_can_be_paid_when_configured(
    ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock
) -> None:
    # Given a session whose time has passed
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    clock.advance(timedelta(minutes=45))
    assert requests.get(hosted(ic, session_id), timeout=10).status_code == 410
    # When the simulator lets expired sessions be paid (the page was left open in a browser tab)
    ic.configure(payExpiredSessions=True)
    # Then the pages work and the payer can pay
    assert requests.get(hosted(ic, session_id), timeout=10).status_code == 200
    receipt = requests.post(hosted(ic, session_id, "payment"), data=CARD, timeout=10)
    assert receipt.url.endswith("/receipt") and "Payment successful" in receipt.text
    session = ic.session(session_id)
    assert session["state"] == "APPROVED" and session["attempts"][0]["afterExpiry"] is True
    assert receiver.wait_for(1)[0].form["Approved"] == "True"
    # But an approved session is never paid again, expired or not
    again = ic.complete(session_id, outcome="approve", ignoreExpiry=True)
    assert (again.status_code, again.json()["error"]) == (409, "session_not_open")
    repeat = requests.post(hosted(ic, session_id, "payment"), data=CARD, timeout=10, allow_redirects=False)
    assert repeat.status_code == 303 and repeat.headers["Location"].endswith("/receipt")
    assert len(ic.session(session_id)["attempts"]) == 1


def test_ignore_expiry_applies_to_one_call(ic: SimClient, clock: AdjustableClock) -> None:
    # Given two sessions whose time has passed
    first, second = ic.create_session(cpv2_request()), ic.create_session(cpv2_request())
    clock.advance(timedelta(hours=1))
    # When a test declines, then approves, the first with ignoreExpiry
    declined = ic.complete(first, outcome="decline", ignoreExpiry=True)
    approved = ic.complete(first, outcome="approve", ignoreExpiry=True)
    assert (declined.status_code, declined.json()["state"]) == (200, "EXPIRED")
    assert (approved.status_code, approved.json()["state"]) == (200, "APPROVED")
    assert approved.json()["attempt"]["afterExpiry"] is True
    # Then the second, completed without it, is still refused, and the config did not change
    assert ic.complete(second, outcome="approve").status_code == 409
    assert requests.get(f"{ic.url}/_sim/config", timeout=10).json()["payExpiredSessions"] is False
    # And ignoreExpiry must be a boolean
    refused = ic.complete(second, outcome="approve", ignoreExpiry="true")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")


# --------------------------------------------------------------------------- PaymentTypeID, CardType, PaymentMessage


def test_payment_message_carries_a_fresh_approval_code(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given one PaymentGUID per session, so that only PaymentMessage tells attempts apart beside Approved
    ic.configure(guidPerAttempt=False)
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payer is declined, then approved
    declined = ic.complete(session_id, outcome="decline").json()
    approved = ic.complete(session_id, outcome="approve").json()
    # Then the decline says DECLINED with no code, the approval APPROVED with its 6-digit code
    assert declined["attempt"]["authorization"] is None
    code = approved["attempt"]["authorization"]
    assert re.fullmatch(r"\d{6}", code)
    forms = [p.form for p in receiver.wait_for(2)]
    assert [f["PaymentMessage"] for f in forms] == ["DECLINED", f"APPROVED {code}"]
    # And the receipt shows the same code
    receipt = requests.get(hosted(ic, session_id, "receipt"), timeout=10).text
    assert f'<dd id="authorization" class="code">{code}</dd>' in receipt


def test_payment_type_ids_and_the_ach_card_type_are_configurable(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given other PaymentTypeIDs, and the bank account type sent as "Savings"
    ic.configure(paymentTypeIds={"CARD": "3", "ACH": "7"}, achCardType="Savings")
    # When one session is paid by card and another by bank account (hosted page)
    ic.complete(ic.create_session(cpv2_request(receiver.postback_url)), outcome="approve", method="CARD")
    receipt = requests.post(
        hosted(ic, ic.create_session(cpv2_request(receiver.postback_url)), "payment"), data=ACH, timeout=10
    )
    assert "Bank account ending in 6789" in receipt.text
    # Then the postbacks carry them
    forms = [p.form for p in receiver.wait_for(2)]
    assert [(f["PaymentTypeID"], f["CardType"]) for f in forms] == [("3", "Visa"), ("7", "Savings")]
    # Given an empty achCardType (a sender that leaves CardType blank for ACH)
    receiver.clear()
    ic.configure(achCardType="")
    response = ic.complete(ic.create_session(cpv2_request(receiver.postback_url)), outcome="approve", method="ACH")
    assert response.json()["attempt"]["cardType"] == ""
    assert receiver.wait_for(1)[0].form["CardType"] == ""


# --------------------------------------------------------------------------- dropped postbacks, delivered by the test


def test_dropped_postbacks_list_every_field_for_the_test_to_deliver(
    ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock
) -> None:
    # Given dropped postbacks per account, an expired session paid anyway, part amounts, ACH
    ic.configure(dropPostbacks=True, postbackMode="perAccount", invoiceNumberWhenSeveral="firstRequested")
    session_id = ic.create_session(part_payment_request(receiver.postback_url))
    clock.advance(timedelta(minutes=31))
    response = ic.complete(
        session_id, outcome="approve", method="ACH", ignoreExpiry=True, amounts={"INV-1001-2": "15.00"}
    )
    # Then nothing was sent, and the answer and the session both list the full postbacks
    assert response.status_code == 200, response.text
    listed = [record["fields"] for record in ic.session(session_id)["postbacks"]]
    assert listed == [record["fields"] for record in response.json()["postbacks"]]
    assert all(set(fields) == POSTBACK_FIELDS for fields in listed)
    code = response.json()["attempt"]["authorization"]
    assert [
        (f["InvoiceNumber"], f["PaymentAmount"], f["ConvenienceFee"], f["PaymentTypeID"], f["CardType"]) for f in listed
    ] == [("INV-1001-1", "25.00", "1.50", "2", "Checking"), ("INV-1002-1", "5.25", "0.00", "2", "Checking")]
    assert {f["PaymentMessage"] for f in listed} == {f"APPROVED {code}"}
    assert {f["PaymentDate"] for f in listed} == {"11/25/2026 02:46:02 PM"}
    assert receiver.received == []
    # When the test delivers them itself, they arrive as the simulator would have sent them
    for fields in listed:
        assert requests.post(receiver.postback_url, data=fields, timeout=10).status_code == 200
    assert [p.form for p in receiver.wait_for(2)] == listed


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "update",
    [
        {"paymentTypeIds": "1"},
        {"paymentTypeIds": {"CARD": 1, "ACH": "2"}},
        {"paymentTypeIds": {"CARD": "1"}},
        {"paymentTypeIds": {"CARD": "1", "ACH": "2", "CASH": "3"}},
        {"achCardType": None},
        {"achCardType": 1},
        {"payExpiredSessions": "true"},
        {"enforceMinimumAmount": 1},
        {"invoiceNumberWhenSeveral": "last"},
    ],
)
def test_new_config_keys_refuse_wrong_types(ic: SimClient, update: dict[str, Any]) -> None:
    response = ic.configure(**update)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_config")
    config = requests.get(f"{ic.url}/_sim/config", timeout=10).json()
    assert config == {**_defaults(), "postbackRetryDelaySeconds": 0.05}


def test_reset_restores_every_default(ic: SimClient, simulator: tuple[InvoiceCloudSimulator, RunningServer]) -> None:
    # Given every new key changed
    changed = {
        "paymentTypeIds": {"CARD": "9", "ACH": "8"},
        "achCardType": "",
        "payExpiredSessions": True,
        "enforceMinimumAmount": False,
        "invoiceNumberWhenSeveral": "firstRequested",
    }
    assert ic.configure(**changed).status_code == 200
    # And an in-process caller mutating the config it was given back (which must not reach the simulator)
    sim, _ = simulator
    sim.update_config({})["paymentTypeIds"]["CARD"] = "mutated"
    assert requests.get(f"{ic.url}/_sim/config", timeout=10).json()["paymentTypeIds"] == {"CARD": "9", "ACH": "8"}
    # When the simulator is reset
    assert requests.post(f"{ic.url}/_sim/reset", timeout=10).status_code == 200
    # Then the config is the defaults, exactly
    assert requests.get(f"{ic.url}/_sim/config", timeout=10).json() == _defaults()
    assert _defaults()["paymentTypeIds"] == {"CARD": "1", "ACH": "2"}


def _defaults() -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(DEFAULT_CONFIG))))


def test_amounts_use_decimal_not_float() -> None:
    # The simulator's own arithmetic: 0.10 + 0.20 is 0.30 to the cent (a float would give 0.30000000000000004).
    _, client = _in_process(AdjustableClock(start=FROZEN_AT))
    body = cpv2_request(postback_url="")  # no postbacks: this simulator has the default retry delays
    body["Customers"] = [body["Customers"][1]]
    body["Customers"][0]["Invoices"] = [
        {"InvoiceNumber": "A", "BalanceDue": 0.10, "AllowPartialPayments": True},
        {"InvoiceNumber": "B", "BalanceDue": 0.20},
    ]
    response = client.post("/cloudpaymentsapi/v2", json=body, auth=(API_KEY, ""))
    session_id = response.json["Data"]["CloudPaymentURL"].rsplit("/", 1)[1]
    completed = client.post(f"/_sim/sessions/{session_id}/complete", json={"outcome": "approve"})
    assert completed.json["attempt"]["amount"] == "0.30"
    assert Decimal(completed.json["attempt"]["amount"]) == Decimal("0.30")
