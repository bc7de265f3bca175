"""The Invoice Cloud simulator itself: strict CPV2 validation, hosted pages, postbacks, CloudManagement.

The simulator is what every other integration test trusts to behave like Invoice Cloud, so it gets
tested over real HTTP: it is served on a free port, and postbacks go to a small receiver app that is
served the same way.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from defusedxml import ElementTree
from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud import AdjustableClock, CustomerRecord, InvoiceCloudSimulator
from sandbox.invoicecloud.pages import confirmation_number
from sandbox.serving import RunningServer, free_port, start_server

API_KEY = "test-api-key"
BILLER_GUID = "11111111-2222-3333-4444-555555555555"
WEB_SERVICE_KEY = "test-web-service-key"
BILLER_NAME = "Avocette Utilities"
RETURN_URL = "https://portal.example.com/payments/pay-1/return"
POSTBACK_TOKEN = "v1.c2lnbmF0dXJl"
IC_NAMESPACE = "{https://www.invoicecloud.com/portal/webservices/}"
SOAP_FAULTSTRING = ".//faultstring"
CLOUD_MANAGEMENT = "/portal/webservices/CloudManagement.asmx"
POSTBACK_FIELDS = {
    "BillerGUID",
    "PaymentDate",
    "InvoiceNumber",
    "Approved",
    "CustomerName",
    "CustomerAddress",
    "CustomerCity",
    "CustomerState",
    "CustomerZip",
    "PaymentGUID",
    "PaymentAmount",
    "PaymentDescription",
    "PaymentTypeID",
    "CardType",
    "PaymentMessage",
    "BillerReference",
    "ConvenienceFee",
    "RemoteIP",
}


# --------------------------------------------------------------------------- postback receiver


@dataclass
class ReceivedPostback:
    path: str
    query: str
    content_type: str
    form: dict[str, str]


@dataclass
class PostbackReceiver:
    """A stand-in for our postback endpoint: records every form post, answers 200 unless told otherwise."""

    server: RunningServer | None = None
    received: list[ReceivedPostback] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self.lock:
            status = self.statuses.popleft() if self.statuses else 200
            self.received.append(
                ReceivedPostback(
                    path=request.path,
                    query=request.query_string.decode(),
                    content_type=request.mimetype,
                    form=request.form.to_dict(),
                )
            )
        return Response("OK", status=status)(environ, start_response)

    @property
    def postback_url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/postback/pay-1?token={POSTBACK_TOKEN}"

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.statuses.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedPostback]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


# --------------------------------------------------------------------------- simulator client


@dataclass
class SimClient:
    """Thin HTTP helpers over the simulator's CPV2 and control APIs."""

    url: str

    def post_cpv2(self, body: Any, auth: tuple[str, str] = (API_KEY, "")) -> requests.Response:
        return requests.post(f"{self.url}/cloudpaymentsapi/v2", json=body, auth=auth, timeout=10)

    def create_session(self, body: dict[str, Any]) -> str:
        response = self.post_cpv2(body)
        assert response.status_code == 200, response.text
        return str(response.json()["Data"]["CloudPaymentURL"].rsplit("/", 1)[1])

    def configure(self, **values: Any) -> requests.Response:
        return requests.post(f"{self.url}/_sim/config", json=values, timeout=10)

    def complete(self, session_id: str, **body: Any) -> requests.Response:
        return requests.post(f"{self.url}/_sim/sessions/{session_id}/complete", json=body, timeout=30)

    def session(self, session_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/_sim/sessions/{session_id}", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def cloud_management(self, operation: str, **fields: str) -> requests.Response:
        form = {"BillerGUID": BILLER_GUID, "WebServiceKey": WEB_SERVICE_KEY, **fields}
        return requests.post(f"{self.url}{CLOUD_MANAGEMENT}/{operation}", data=form, timeout=10)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def module_clock() -> AdjustableClock:
    return AdjustableClock()


@pytest.fixture
def clock(module_clock: AdjustableClock) -> Iterator[AdjustableClock]:
    """Real time, which a test can move forward; back to real time after the test."""
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
        customer_records=[
            CustomerRecord(
                "ACCT-1001", registered=True, registration_date="01/15/2026", login_name="alice@example.com"
            ),
            CustomerRecord("ACCT-3001", registered=False),
        ],
        clock=module_clock,
    )
    server = start_server(sim, 0, name="ic")
    sim.base_url = server.url
    yield sim, server
    sim.reset()
    server.stop()


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[PostbackReceiver]:
    receiver = PostbackReceiver()
    receiver.server = start_server(receiver, 0, name="postbacks")
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
    sim.reset()  # stops deliveries still retrying


def cpv2_request(postback_url: str = "https://api.example.com/postback/pay-1?token=x", **overrides: Any) -> dict:
    """A valid request: two accounts, three invoices, 40.75 due; card fees 1.00 each, ACH fees 0.50."""
    body: dict[str, Any] = {
        "CreateCustomerRecord": True,
        "Customers": [
            {
                "AccountNumber": "ACCT-1001",
                "Name": "Alice Example",
                "Address": "1 Orchard Lane",
                "City": "Tampa",
                "State": "FL",
                "Zip": "33601",
                "EmailAddress": "alice@example.com",
                "Invoices": [
                    _invoice("INV-1001-1", Decimal("10.00")),
                    _invoice("INV-1001-2", Decimal("25.50")),
                ],
            },
            {
                "AccountNumber": "ACCT-1002",
                "Name": "Alice Example",
                "Invoices": [_invoice("INV-1002-1", Decimal("5.25"))],
            },
        ],
        "AllowSwipe": False,
        "AllowEMV": False,
        "AllowCCPayment": True,
        "AllowACHPayment": True,
        "ReturnURL": RETURN_URL,
        "PostBackURL": postback_url,
        "BillerReference": "pay-1",
        "ViewMode": 0,
        "PageLoadOverride": 1,
        "PageResultOptions": {
            "AllowRegisterAccount": False,
            "InvoiceOptions": {
                "AllowViewStatement": False,
                "AllowRemove": True,
                "AllowViewRelated": False,
                "AllowRemindMe": False,
            },
        },
    }
    body.update(overrides)
    return body


def _invoice(number: str, balance: Decimal) -> dict[str, Any]:
    return {
        "InvoiceNumber": number,
        "TypeID": 6,
        "InvoiceDate": "11/01/2026",
        "DueDate": "12/01/2026",
        "BalanceDue": float(balance),
        "CCServiceFee": 1.00,
        "ACHServiceFee": 0.50,
    }


# --------------------------------------------------------------------------- CPV2: auth and validation


@pytest.mark.parametrize("auth", [("wrong-key", ""), (API_KEY, "not-empty"), ("", API_KEY)])
def test_cpv2_refuses_a_wrong_api_key(ic: SimClient, auth: tuple[str, str]) -> None:
    # Given a valid request
    # When it is sent with credentials other than "<api key>:<empty password>"
    response = ic.post_cpv2(cpv2_request(), auth=auth)
    # Then Invoice Cloud's 401 comes back and no session exists
    assert response.status_code == 401
    assert response.json() == {"Message": "Authorization has been denied for this request.", "Data": None}
    assert requests.get(f"{ic.url}/_sim/sessions", timeout=10).json() == {"sessions": []}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict], None]:
    def mutate(body: dict) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict], None]:
    def mutate(body: dict) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


INVOICE_0 = ("Customers", 0, "Invoices", 0)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _set(("AllowCCPayment",), "False"),
            'AllowCCPayment must be a JSON boolean (true or false), not the string "False"',
        ),
        (
            _set(("PageResultOptions", "InvoiceOptions", "AllowRemove"), "true"),
            "PageResultOptions.InvoiceOptions.AllowRemove must be a JSON boolean",
        ),
        (_set((*INVOICE_0, "DueDate"), "2026-12-01"), "Customers[0].Invoices[0].DueDate must be MM/DD/YYYY"),
        (_set((*INVOICE_0, "InvoiceDate"), "02/30/2026"), "Customers[0].Invoices[0].InvoiceDate must be MM/DD/YYYY"),
        (_set((*INVOICE_0, "BalanceDue"), "10.00"), "Customers[0].Invoices[0].BalanceDue must be a JSON number"),
        (_set((*INVOICE_0, "BalanceDue"), True), "Customers[0].Invoices[0].BalanceDue must be a JSON number"),
        (_set((*INVOICE_0, "CCServiceFee"), 1.005), "Customers[0].Invoices[0].CCServiceFee must have at most two"),
        (_set((*INVOICE_0, "BalanceDue"), -1), "Customers[0].Invoices[0].BalanceDue must not be negative"),
        (_set((*INVOICE_0, "TypeID"), "6"), "Customers[0].Invoices[0].TypeID must be a JSON integer"),
        (
            _set((*INVOICE_0, "AchServiceFee"), 1.00),
            "Customers[0].Invoices[0].AchServiceFee is not a known field (did you mean ACHServiceFee?)",
        ),
        (_set(("Foo",), 1), "Foo is not a known field"),
        (_set(("Customers", 1, "Phone"), "555"), "Customers[1].Phone is not a known field"),
        (_delete(("Customers", 0, "AccountNumber")), "Customers[0].AccountNumber is required"),
        (_set(("Customers", 0, "AccountNumber"), ""), "Customers[0].AccountNumber must not be empty"),
        (_delete((*INVOICE_0, "InvoiceNumber")), "Customers[0].Invoices[0].InvoiceNumber is required"),
        (_delete(("Customers",)), "Customers is required"),
        (_set(("Customers",), []), "Customers must be a non-empty list"),
        (_delete(("ViewMode",)), "ViewMode is required"),
        (_set(("ViewMode",), 2), "ViewMode must be 0 or 1"),
        (_set(("PageLoadOverride",), "1"), "PageLoadOverride must be a JSON integer"),
        (_set(("ReturnURL",), "/payments/return"), "ReturnURL must be an absolute http(s) URL"),
        (_set(("PostBackURL",), "https://www.yourdomain.com/postback.aspx "), "PostBackURL must be an absolute"),
        (_set(("BillerReference",), "x" * 101), "BillerReference must be at most 100 characters"),
        (_set(("Customers", 0, "Name"), None), "Customers[0].Name must be a string, not null"),
        (
            lambda body: body.update(AllowCCPayment=False, AllowACHPayment=False),
            "AllowCCPayment and AllowACHPayment are both false",
        ),
    ],
)
def test_cpv2_refuses_requests_a_strict_server_would(
    ic: SimClient, mutate: Callable[[dict], None], expected: str
) -> None:
    # Given a valid request broken in exactly one way
    body = copy.deepcopy(cpv2_request())
    mutate(body)
    # When it is sent
    response = ic.post_cpv2(body)
    # Then the answer is 400 naming the field, and no session was opened
    assert response.status_code == 400
    assert expected in response.json()["Message"]
    assert response.json()["Data"] is None
    assert requests.get(f"{ic.url}/_sim/sessions", timeout=10).json() == {"sessions": []}


def test_cpv2_refuses_a_body_that_is_not_json(ic: SimClient) -> None:
    # Given a body sent form-encoded instead of JSON
    response = requests.post(f"{ic.url}/cloudpaymentsapi/v2", data={"ViewMode": "0"}, auth=(API_KEY, ""), timeout=10)
    # Then it is refused before validation
    assert response.status_code == 415
    broken = requests.post(
        f"{ic.url}/cloudpaymentsapi/v2",
        data=b'{"Customers": [',
        headers={"Content-Type": "application/json"},
        auth=(API_KEY, ""),
        timeout=10,
    )
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["Message"]


def test_cpv2_accepts_empty_optional_strings_and_whole_number_amounts(ic: SimClient) -> None:
    # Given a request with an empty ReturnURL (as in the seed) and amounts written as integers
    body = cpv2_request(ReturnURL="", CssUrl="")
    body["Customers"][0]["Invoices"][0]["BalanceDue"] = 10
    # When it is sent
    response = ic.post_cpv2(body)
    # Then it is accepted
    assert response.status_code == 200, response.text


def test_cpv2_success_returns_a_payment_url_under_the_base_url_and_keeps_the_request(ic: SimClient) -> None:
    # Given a valid request
    body = cpv2_request()
    # When it is sent
    response = ic.post_cpv2(body)
    # Then the answer carries a CloudPaymentURL on the simulator
    assert response.status_code == 200
    payload = response.json()
    assert payload["Message"] == "SUCCESS"
    url = payload["Data"]["CloudPaymentURL"]
    assert url.startswith(f"{ic.url}/cloudpayments/")
    session_id = url.rsplit("/", 1)[1]
    assert len(session_id) == 32
    # And the control API shows the request as received, in an open session
    session = ic.session(session_id)
    assert session["state"] == "OPEN"
    assert session["request"] == body
    listed = requests.get(f"{ic.url}/_sim/sessions", timeout=10).json()["sessions"]
    assert [(s["sessionId"], s["state"], s["billerReference"]) for s in listed] == [(session_id, "OPEN", "pay-1")]


# --------------------------------------------------------------------------- hosted pages


def test_hosted_route_walk_through_pays_and_posts_back(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given an open session with three invoices on two accounts
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    browser = requests.Session()
    page_url = f"{ic.url}/cloudpayments/{session_id}"

    # When the payer opens the payment URL, the account page shows both accounts and the total owing
    account = browser.get(page_url, timeout=10)
    assert account.status_code == 200
    assert "Secure payment for Avocette Utilities" in account.text
    assert "Account › Invoices › Billing information › Payment › Receipt" in _text(account.text)
    assert "ACCT-1001" in account.text and "ACCT-1002" in account.text
    assert "$40.75" in account.text

    # And continues to the invoices, each shown separately with a Remove button
    invoices = browser.post(f"{page_url}/account", timeout=10)
    assert invoices.url.endswith("/invoices")
    for number in ("INV-1001-1", "INV-1001-2", "INV-1002-1"):
        assert number in invoices.text
    assert invoices.text.count(">Remove</button>") == 3

    # And removes INV-1001-2 (key "0-1"): the total drops to 15.25
    after_remove = browser.post(f"{page_url}/invoices", data={"remove": "0-1"}, timeout=10)
    assert "INV-1001-2" not in after_remove.text
    assert "$15.25" in after_remove.text

    # And continues to billing information, prefilled from the first customer
    billing = browser.post(f"{page_url}/invoices", data={"action": "continue"}, timeout=10)
    assert billing.url.endswith("/billing")
    assert 'value="Alice Example"' in billing.text and 'value="1 Orchard Lane"' in billing.text
    assert '<label for="zip">' in billing.text

    # And corrects the name, then reaches the payment page with fees and test hints
    billing_form = {"name": "Alice B. Example", "address": "1 Orchard Lane", "city": "Tampa", "state": "FL"}
    payment = browser.post(f"{page_url}/billing", data={**billing_form, "zip": "33601", "email": ""}, timeout=10)
    assert payment.url.endswith("/payment")
    assert "$17.25" in payment.text  # card: 15.25 + two 1.00 fees
    assert "$16.25" in payment.text  # ACH: 15.25 + two 0.50 fees
    assert "4111 1111 1111 1111" in payment.text and "011000015" in payment.text

    # And pays with the approving test card
    card = {"method": "CARD", "card_number": "4111111111111111", "expiry": "12/39", "cvv": "123", "name_on_card": "A"}
    receipt = browser.post(f"{page_url}/payment", data=card, timeout=10)

    # Then the receipt shows the payment and links back to the ReturnURL, without the card number
    assert receipt.url.endswith("/receipt")
    assert "Payment successful" in receipt.text
    assert f'href="{RETURN_URL}"' in receipt.text.replace("'", '"')
    assert "Return to Avocette Utilities" in receipt.text
    assert 'onclick="window.print()"' in receipt.text
    assert "Visa ending in 1111" in receipt.text
    assert "4111111111111111" not in receipt.text
    session = ic.session(session_id)
    guid = session["attempts"][0]["paymentGuid"]
    assert confirmation_number(guid) in receipt.text and guid not in receipt.text  # a reference a payer reads
    assert re.fullmatch(r"\d{6}", session["attempts"][0]["authorization"])
    assert f">{session['attempts'][0]['authorization']}</dd>" in receipt.text
    assert session["state"] == "APPROVED"
    assert session["removedInvoices"] == ["INV-1001-2"]

    # And one form-encoded postback with all 18 fields reached the PostBackURL, query string intact
    [postback] = receiver.wait_for(1)
    assert postback.content_type == "application/x-www-form-urlencoded"
    assert postback.path == "/postback/pay-1"
    assert parse_qs(postback.query) == {"token": [POSTBACK_TOKEN]}
    assert set(postback.form) == POSTBACK_FIELDS
    expected = {
        "BillerGUID": BILLER_GUID,
        "InvoiceNumber": "",
        "Approved": "True",
        "CustomerName": "Alice B. Example",
        "CustomerAddress": "1 Orchard Lane",
        "CustomerZip": "33601",
        "PaymentGUID": guid,
        "PaymentAmount": "15.25",
        "PaymentTypeID": "1",
        "CardType": "Visa",
        "PaymentMessage": f"APPROVED {session['attempts'][0]['authorization']}",
        "BillerReference": "pay-1",
        "ConvenienceFee": "2.00",
        "RemoteIP": "127.0.0.1",
    }
    assert {name: postback.form[name] for name in expected} == expected
    assert time.strptime(postback.form["PaymentDate"], "%m/%d/%Y %I:%M:%S %p")

    # And the approved session shows the receipt again
    again = browser.get(page_url, timeout=10)
    assert again.url.endswith("/receipt") and confirmation_number(guid) in again.text


def test_hosted_decline_shows_the_banner_and_allows_a_retry(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given the payment page of an open session
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    page_url = f"{ic.url}/cloudpayments/{session_id}"
    browser = requests.Session()
    card = {"method": "CARD", "expiry": "12/39", "cvv": "123", "name_on_card": "A"}
    # When the payer uses the declining test card
    declined = browser.post(f"{page_url}/payment", data={**card, "card_number": "4000000000000002"}, timeout=10)
    # Then the payment page comes back with the decline banner, and no card number in it
    assert declined.url.endswith("/payment")
    assert "Your payment was declined. No money was taken. Try another card or bank account." in declined.text
    assert "4000000000000002" not in declined.text
    # When the payer then pays from a bank account
    ach = {"method": "ACH", "routing_number": "011000015", "account_number": "123456789", "account_type": "checking"}
    receipt = browser.post(f"{page_url}/payment", data=ach, timeout=10)
    # Then it is approved; the two postbacks are a declined card and an approved ACH payment with ACH fees,
    # whose CardType is the bank account type (the default achCardType), not a card brand
    assert "Payment successful" in receipt.text and "Bank account ending in 6789" in receipt.text
    forms = [p.form for p in receiver.wait_for(2)]
    assert [(f["Approved"], f["PaymentTypeID"], f["CardType"], f["ConvenienceFee"]) for f in forms] == [
        ("False", "1", "Visa", "3.00"),
        ("True", "2", "Checking", "1.50"),
    ]
    assert forms[0]["PaymentMessage"] == "DECLINED" and forms[0]["PaymentAmount"] == "40.75"
    assert re.fullmatch(r"APPROVED \d{6}", forms[1]["PaymentMessage"])


def test_hosted_ach_account_ending_0002_declines_and_bad_fields_are_reported(ic: SimClient) -> None:
    # Given the payment page of an open session
    session_id = ic.create_session(cpv2_request())
    page_url = f"{ic.url}/cloudpayments/{session_id}/payment"
    # When the card form is incomplete, the page says which field is wrong and nothing is attempted
    incomplete = requests.post(page_url, data={"method": "CARD", "card_number": "4111"}, timeout=10)
    assert incomplete.status_code == 400
    assert "Enter the 12 to 19 digits of the card number." in incomplete.text
    # When the bank account number ends in 0002, the payment is declined
    ach = {"method": "ACH", "routing_number": "011000015", "account_number": "98760002", "account_type": "savings"}
    declined = requests.post(page_url, data=ach, timeout=10)
    assert "Your payment was declined." in declined.text
    attempts = ic.session(session_id)["attempts"]
    assert [(a["approved"], a["method"], a["last4"]) for a in attempts] == [(False, "ACH", "0002")]


def test_hosted_pages_escape_values_from_the_request(ic: SimClient) -> None:
    # Given a customer name and invoice number carrying markup
    body = cpv2_request()
    body["Customers"][0]["Name"] = "<script>alert(1)</script>"
    body["Customers"][0]["Invoices"][0]["InvoiceNumber"] = '"><img src=x onerror=alert(2)>'
    session_id = ic.create_session(body)
    page_url = f"{ic.url}/cloudpayments/{session_id}"
    # When the account, invoice and billing pages are shown
    for step in ("", "/invoices", "/billing"):
        html = requests.get(f"{page_url}{step}", timeout=10).text
        # Then the markup is shown as text, never as markup
        assert "<script>alert(1)" not in html
        assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in requests.get(page_url, timeout=10).text


def test_removing_the_last_invoice_is_refused(ic: SimClient) -> None:
    # Given a session with one invoice
    body = cpv2_request()
    body["Customers"] = body["Customers"][1:]
    session_id = ic.create_session(body)
    # When the payer removes it
    response = requests.post(f"{ic.url}/cloudpayments/{session_id}/invoices", data={"remove": "0-0"}, timeout=10)
    # Then the page refuses with a message and the invoice stays
    assert response.status_code == 400
    assert "You cannot remove the last invoice" in response.text
    assert ic.session(session_id)["removedInvoices"] == []


def test_unknown_and_expired_sessions(ic: SimClient, clock: AdjustableClock) -> None:
    # Given an unknown session id
    unknown = requests.get(f"{ic.url}/cloudpayments/{'0' * 32}", timeout=10)
    # Then the page is a 404
    assert unknown.status_code == 404 and "Payment page not found" in unknown.text
    # Given a session that lives 5 minutes, and 5 minutes passing on the simulator's clock
    ic.configure(sessionMinutes=5)
    session_id = ic.create_session(cpv2_request())
    clock.advance(timedelta(minutes=5))
    # When the payer opens it, or a test tries to complete it
    expired = requests.get(f"{ic.url}/cloudpayments/{session_id}", timeout=10)
    completed = ic.complete(session_id, outcome="approve")
    # Then it is expired
    assert expired.status_code == 410 and "expired" in expired.text
    assert completed.status_code == 409
    assert ic.session(session_id)["state"] == "EXPIRED"


# --------------------------------------------------------------------------- control API and postbacks


def test_decline_then_approve_through_the_control_api(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given an open session
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payer is declined, then approved
    declined = ic.complete(session_id, outcome="decline")
    approved = ic.complete(session_id, outcome="approve", method="CARD")
    # Then each answer carries the attempt and its delivered postbacks
    assert declined.status_code == 200 and approved.status_code == 200
    assert declined.json()["state"] == "OPEN"
    assert approved.json()["state"] == "APPROVED"
    [declined_postback] = declined.json()["postbacks"]
    [approved_postback] = approved.json()["postbacks"]
    assert declined_postback["fields"]["Approved"] == "False" and declined_postback["delivered"] is True
    assert approved_postback["fields"]["Approved"] == "True" and approved_postback["attempts"][0]["status"] == 200
    # And each attempt had its own PaymentGUID (the default)
    assert declined.json()["attempt"]["paymentGuid"] != approved.json()["attempt"]["paymentGuid"]
    # And an approved session cannot be completed again
    assert ic.complete(session_id, outcome="approve").status_code == 409
    assert len(receiver.wait_for(2)) == 2


@pytest.mark.parametrize(
    ("mode", "when_several", "expected"),
    [
        ("single", "blank", [("", "40.75", "3.00")]),
        ("single", "first", [("INV-1001-1", "40.75", "3.00")]),
        (
            "perInvoice",
            "blank",
            [("INV-1001-1", "10.00", "3.00"), ("INV-1001-2", "25.50", "0.00"), ("INV-1002-1", "5.25", "0.00")],
        ),
        (
            "perInvoice",
            "first",
            [("INV-1001-1", "10.00", "3.00"), ("INV-1001-2", "25.50", "0.00"), ("INV-1002-1", "5.25", "0.00")],
        ),
        ("perAccount", "blank", [("", "35.50", "3.00"), ("INV-1002-1", "5.25", "0.00")]),
        ("perAccount", "first", [("INV-1001-1", "35.50", "3.00"), ("INV-1002-1", "5.25", "0.00")]),
    ],
)
def test_postback_modes(
    ic: SimClient, receiver: PostbackReceiver, mode: str, when_several: str, expected: list[tuple[str, str, str]]
) -> None:
    # Given the simulator posting back per mode, and a session with three invoices on two accounts
    assert ic.configure(postbackMode=mode, invoiceNumberWhenSeveral=when_several).status_code == 200
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payment is approved
    response = ic.complete(session_id, outcome="approve")
    # Then the postbacks have the mode's shape, the fee on the first only, one GUID for the attempt
    received = [p.form for p in receiver.wait_for(len(expected))]
    assert [(f["InvoiceNumber"], f["PaymentAmount"], f["ConvenienceFee"]) for f in received] == expected
    assert {f["PaymentGUID"] for f in received} == {response.json()["attempt"]["paymentGuid"]}
    assert all(set(f) == POSTBACK_FIELDS for f in received)


def test_fee_in_amount_and_amount_formats(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given PaymentAmount including the fee, written as "$1,025.00"
    ic.configure(feeInAmount=True, amountFormat="dollar")
    body = cpv2_request(receiver.postback_url)
    body["Customers"] = body["Customers"][:1]
    body["Customers"][0]["Invoices"] = [_invoice("INV-BIG", Decimal("1024.00"))]
    session_id = ic.create_session(body)
    # When the payment is approved
    ic.complete(session_id, outcome="approve")
    # Then the amount carries the fee and the dollar format; the fee stays plain
    [postback] = receiver.wait_for(1)
    assert (postback.form["PaymentAmount"], postback.form["ConvenienceFee"]) == ("$1,025.00", "1.00")
    # Given whole amounts written as integers, fee not included
    receiver.clear()
    ic.configure(feeInAmount=False, amountFormat="integer")
    ic.complete(ic.create_session(body), outcome="approve")
    assert receiver.wait_for(1)[0].form["PaymentAmount"] == "1024"


def test_guid_is_reused_across_attempts_when_configured(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given one PaymentGUID per session rather than per attempt
    ic.configure(guidPerAttempt=False)
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payer is declined, then approved
    ic.complete(session_id, outcome="decline", method="ACH")
    ic.complete(session_id, outcome="approve", method="ACH")
    # Then both postbacks carry the same PaymentGUID, told apart only by Approved
    forms = [p.form for p in receiver.wait_for(2)]
    assert forms[0]["PaymentGUID"] == forms[1]["PaymentGUID"]
    assert [f["Approved"] for f in forms] == ["False", "True"]


def test_duplicate_and_reordered_postbacks(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given two extra copies of each postback, per invoice, sent in reverse order
    ic.configure(duplicatePostbacks=2, postbackMode="perInvoice", reorderPostbacks=True)
    body = cpv2_request(receiver.postback_url)
    body["Customers"] = body["Customers"][:1]
    session_id = ic.create_session(body)
    # When the payment is approved
    response = ic.complete(session_id, outcome="approve")
    # Then six postbacks arrive, the second invoice's three copies first
    received = [p.form["InvoiceNumber"] for p in receiver.wait_for(6)]
    assert received == ["INV-1001-2"] * 3 + ["INV-1001-1"] * 3
    assert len(response.json()["postbacks"]) == 6


def test_postbacks_are_retried_until_the_receiver_accepts(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given a receiver that fails twice with 500
    receiver.statuses.extend([500, 500])
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payment is approved
    response = ic.complete(session_id, outcome="approve")
    # Then the same postback was sent three times and is delivered
    [record] = response.json()["postbacks"]
    assert [attempt["status"] for attempt in record["attempts"]] == [500, 500, 200]
    assert record["delivered"] is True
    assert len(receiver.wait_for(3)) == 3


def test_postbacks_give_up_after_the_configured_retries(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given a receiver that always fails, and one retry allowed
    ic.configure(postbackRetries=1)
    receiver.statuses.extend([503] * 5)
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payment is approved
    [record] = ic.complete(session_id, outcome="approve").json()["postbacks"]
    # Then it was tried twice and is not delivered
    assert [attempt["status"] for attempt in record["attempts"]] == [503, 503]
    assert record["delivered"] is False


def test_connection_errors_are_recorded_without_the_url(ic: SimClient) -> None:
    # Given a PostBackURL where nothing listens
    url = f"http://127.0.0.1:{free_port()}/postback/pay-1?token={POSTBACK_TOKEN}"
    ic.configure(postbackRetries=0)
    session_id = ic.create_session(cpv2_request(url))
    # When the payment is approved
    [record] = ic.complete(session_id, outcome="approve").json()["postbacks"]
    # Then the failure is recorded, naming the error but not the token
    [attempt] = record["attempts"]
    assert attempt["status"] is None and attempt["error"].startswith("ConnectionError")
    assert POSTBACK_TOKEN not in attempt["error"]


def test_dropped_postbacks_are_recorded_but_never_sent(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given postbacks dropped, and a long delivery delay that must not matter
    ic.configure(dropPostbacks=True, postbackDelaySeconds=30)
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payment is approved
    started = time.monotonic()
    response = ic.complete(session_id, outcome="approve")
    # Then the answer comes at once with an undelivered record, and nothing reaches the receiver
    assert time.monotonic() - started < 5
    [record] = response.json()["postbacks"]
    assert record == {"fields": record["fields"], "attempts": [], "delivered": False}
    time.sleep(0.2)
    assert receiver.received == []


def test_postback_delay_is_honoured(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given postbacks delayed by 0.3 s
    ic.configure(postbackDelaySeconds=0.3)
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When the payment is completed through the control API
    started = time.monotonic()
    response = ic.complete(session_id, outcome="approve")
    # Then the answer waited for the delivery
    assert time.monotonic() - started >= 0.3
    assert response.json()["postbacks"][0]["delivered"] is True


def test_complete_can_remove_invoices_only_when_allowed(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given a session allowing removal
    session_id = ic.create_session(cpv2_request(receiver.postback_url))
    # When a test removes every invoice, it is refused
    everything = ["INV-1001-1", "INV-1001-2", "INV-1002-1"]
    assert ic.complete(session_id, outcome="approve", removeInvoices=everything).status_code == 400
    # When it removes one, the attempt pays the rest
    response = ic.complete(session_id, outcome="approve", removeInvoices=["INV-1001-2"])
    assert [i["invoiceNumber"] for i in response.json()["attempt"]["invoices"]] == ["INV-1001-1", "INV-1002-1"]
    assert response.json()["postbacks"][0]["fields"]["PaymentAmount"] == "15.25"
    # Given a session that does not allow removal
    body = cpv2_request(receiver.postback_url)
    body["PageResultOptions"]["InvoiceOptions"]["AllowRemove"] = False
    other = ic.create_session(body)
    # Then removal is refused there, and the invoices page has no Remove button
    assert ic.complete(other, outcome="approve", removeInvoices=["INV-1001-2"]).status_code == 400
    assert ">Remove</button>" not in requests.get(f"{ic.url}/cloudpayments/{other}/invoices", timeout=10).text


def test_complete_refuses_a_method_the_request_does_not_allow(ic: SimClient) -> None:
    # Given a session that allows card payments only
    session_id = ic.create_session(cpv2_request(AllowACHPayment=False))
    # When a test completes it by ACH, it is refused; the payment page offers no bank account form
    assert ic.complete(session_id, outcome="approve", method="ACH").status_code == 400
    page = requests.get(f"{ic.url}/cloudpayments/{session_id}/payment", timeout=10).text
    assert 'name="routing_number"' not in page and 'name="card_number"' in page


# --------------------------------------------------------------------------- faults and config


def test_api_fault_applies_to_the_next_calls_only(ic: SimClient) -> None:
    # Given a 503 fault for the next two calls
    assert ic.configure(apiFault="503", apiFaultCount=2).status_code == 200
    # When three requests are sent
    statuses = [ic.post_cpv2(cpv2_request()).status_code for _ in range(3)]
    # Then the first two fail and the fault clears itself
    assert statuses == [503, 503, 200]
    config = requests.get(f"{ic.url}/_sim/config", timeout=10).json()
    assert (config["apiFault"], config["apiFaultCount"]) == (None, None)


@pytest.mark.parametrize(
    ("fault", "status", "check"),
    [
        ("500", 500, lambda r: r.json()["Message"] == "An error has occurred."),
        ("malformed", 200, lambda r: _is_not_json(r.text)),
        ("reject", 200, lambda r: r.json() == {"Message": "Biller is not configured for Cloud Payments", "Data": None}),
        ("timeout", 504, lambda r: "Gateway Timeout" in r.text),
    ],
)
def test_api_fault_kinds(ic: SimClient, fault: str, status: int, check: Callable[[requests.Response], Any]) -> None:
    # Given a fault (a timeout that waits 0.1 s)
    ic.configure(apiFault=fault, apiTimeoutSeconds=0.1)
    # When a request is sent
    response = ic.post_cpv2(cpv2_request())
    # Then the fault's answer comes back
    assert response.status_code == status
    assert check(response)


@pytest.mark.parametrize(
    "update",
    [{"postbackMode": "perPayment"}, {"feeInAmount": "true"}, {"duplicatePostbacks": -1}, {"unknownKey": 1}],
)
def test_config_refuses_unknown_keys_and_wrong_types(ic: SimClient, update: dict[str, Any]) -> None:
    # When a bad config is posted
    response = ic.configure(**update)
    # Then it is refused and nothing changed
    assert response.status_code == 400
    assert requests.get(f"{ic.url}/_sim/config", timeout=10).json()["postbackMode"] == "single"


def test_reset_restores_defaults_sessions_and_customers(ic: SimClient) -> None:
    # Given changed config, a session and a new customer record
    ic.configure(postbackMode="perAccount", apiDelaySeconds=0.01)
    ic.create_session(cpv2_request())
    ic.cloud_management("UpdateCustomerRecord", AccountNumber="ACCT-9999", CustomerName="New")
    # When the simulator is reset
    assert requests.post(f"{ic.url}/_sim/reset", timeout=10).status_code == 200
    # Then all of it is back to how it was constructed
    config = requests.get(f"{ic.url}/_sim/config", timeout=10).json()
    assert (config["postbackMode"], config["apiDelaySeconds"], config["postbackRetries"]) == ("single", 0, 3)
    assert requests.get(f"{ic.url}/_sim/sessions", timeout=10).json() == {"sessions": []}
    customers = requests.get(f"{ic.url}/_sim/customers", timeout=10).json()["customers"]
    assert [c["accountNumber"] for c in customers] == ["ACCT-1001", "ACCT-3001"]


# --------------------------------------------------------------------------- CloudManagement


def test_view_customer_record_found(ic: SimClient) -> None:
    # When a known account is looked up
    response = ic.cloud_management("ViewCustomerRecord", AccountNumber="ACCT-1001")
    # Then its record comes back as XML in Invoice Cloud's namespace
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{IC_NAMESPACE}CustomerRecord"
    values = {child.tag.removeprefix(IC_NAMESPACE): child.text for child in root}
    assert values == {
        "AccountNumber": "ACCT-1001",
        "Registered": "true",
        "RegistrationDate": "01/15/2026",
        "LoginName": "alice@example.com",
        "AutoPay": "false",
        "PaperInvoices": "true",
    }


def test_view_customer_record_missing_is_a_soap_fault(ic: SimClient) -> None:
    # When an unknown account is looked up
    response = ic.cloud_management("ViewCustomerRecord", AccountNumber="ACCT-0000")
    # Then Invoice Cloud's SOAP fault comes back with HTTP 500
    assert response.status_code == 500
    fault = ElementTree.fromstring(response.content).find(SOAP_FAULTSTRING)
    assert fault is not None and fault.text == "Customer record not found for account ACCT-0000"


def test_cloud_management_refuses_a_wrong_key(ic: SimClient) -> None:
    # When the web service key is wrong
    form = {"BillerGUID": BILLER_GUID, "WebServiceKey": "wrong", "AccountNumber": "ACCT-1001"}
    response = requests.post(f"{ic.url}{CLOUD_MANAGEMENT}/ViewCustomerRecord", data=form, timeout=10)
    # Then the answer is a fault, not the record
    assert response.status_code == 500
    fault = ElementTree.fromstring(response.content).find(SOAP_FAULTSTRING)
    assert fault is not None and fault.text == "Invalid BillerGUID or WebServiceKey"


def test_update_customer_record_creates_a_record_and_records_the_fields_sent(ic: SimClient) -> None:
    # Given an account with no record
    fields = {
        "AccountNumber": "ACCT-3002",
        "CustomerName": "Dana Example",
        "Address1": "2 Grove Road",
        "City": "Tampa",
        "State": "FL",
        "Zip": "33602",
        "EmailAddress": "dana@example.com",
        "RegistrationValue": "3002-REG",
    }
    # When it is created
    response = ic.cloud_management("UpdateCustomerRecord", **fields)
    # Then the answer is true, and the record now exists, not registered
    assert response.status_code == 200
    assert ElementTree.fromstring(response.content).text == "true"
    viewed = ElementTree.fromstring(ic.cloud_management("ViewCustomerRecord", AccountNumber="ACCT-3002").content)
    assert viewed.findtext(f"{IC_NAMESPACE}Registered") == "false"
    # And the control API shows exactly the fields sent: no PIN, no Block*, the registration value masked
    customers = requests.get(f"{ic.url}/_sim/customers", timeout=10).json()["customers"]
    [created] = [c for c in customers if c["accountNumber"] == "ACCT-3002"]
    assert created["customerName"] == "Dana Example"
    [update] = created["updates"]
    assert update["fields"] == {**fields, "RegistrationValue": "***"}


def test_customer_api_fault_applies_once(ic: SimClient) -> None:
    # Given a malformed answer for the next CloudManagement call only
    ic.configure(customerApiFault="malformed", customerApiFaultCount=1)
    # When the record is looked up twice
    first = ic.cloud_management("ViewCustomerRecord", AccountNumber="ACCT-1001")
    second = ic.cloud_management("ViewCustomerRecord", AccountNumber="ACCT-1001")
    # Then the first answer is broken XML, the second is fine
    assert first.status_code == 200
    with pytest.raises(ElementTree.ParseError):
        ElementTree.fromstring(first.content)
    assert ElementTree.fromstring(second.content).findtext(f"{IC_NAMESPACE}AccountNumber") == "ACCT-1001"


# --------------------------------------------------------------------------- odds and ends


def test_stylesheet_and_index_are_served(ic: SimClient) -> None:
    # Given one session
    session_id = ic.create_session(cpv2_request())
    # Then the stylesheet is served and the index links to the session
    css = requests.get(f"{ic.url}/static/ic.css", timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    index = requests.get(f"{ic.url}/", timeout=10)
    assert f"/cloudpayments/{session_id}" in index.text


def _text(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed, for phrases split across elements."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def _is_not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False
