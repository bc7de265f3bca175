"""The Invoice Cloud client: success rule, URL allowlist, typed errors, retries, timeouts, and the
API key never in an error message or a log line."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from avocette import errors
from avocette.invoicecloud import cpv2
from avocette.invoicecloud.client import InvoiceCloudClient
from avocette.settings.base import SecretText
from avocette.settings.invoicecloud import InvoiceCloudSecret

from tests.scripted_server import Answer, ScriptedServer, scripted_server
from tests.unit.test_cpv2 import seed_request

API_KEY = "sk-live-do-not-print-0123456789"
PAYMENT_URL = "https://www.invoicecloud.com/cloudpayments/abc"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as scripted:
        yield scripted


def make_client(
    base_url: str, *, read_timeout: float = 2.0, deadline: float = 5.0, basic_auth_form: str = "key"
) -> InvoiceCloudClient:
    secret = InvoiceCloudSecret(api_key=SecretText(API_KEY), biller_guid="b", web_service_key=SecretText("w"))
    return InvoiceCloudClient(
        base_url=base_url,
        secret=lambda: secret,
        connect_timeout=1.0,
        read_timeout=read_timeout,
        deadline_seconds=deadline,
        basic_auth_form=basic_auth_form,
    )


def start(client: InvoiceCloudClient, prefixes: tuple[str, ...] = ("https://www.invoicecloud.com/",)) -> str:
    return client.start_cloud_payment(seed_request(), allowed_url_prefixes=prefixes)


def success(url: str = PAYMENT_URL) -> Answer:
    return Answer(200, json.dumps({"Message": "SUCCESS", "Data": {"CloudPaymentURL": url}}))


def test_success_posts_json_with_basic_auth_and_returns_the_url(server: ScriptedServer) -> None:
    server.script(success())
    assert start(make_client(server.url)) == PAYMENT_URL
    (sent,) = server.received
    assert (sent.method, sent.path) == ("POST", "/cloudpaymentsapi/v2")
    assert sent.headers["Content-Type"] == "application/json"
    # The API key alone, as every public integration sends it (IC_BASIC_AUTH_FORM=key, the default).
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(API_KEY.encode()).decode()
    assert json.loads(sent.body) == json.loads(cpv2.encode_request(seed_request()))


def test_the_rfc_form_of_the_credential_when_the_setting_asks_for_it(server: ScriptedServer) -> None:
    server.script(success())
    start(make_client(server.url, basic_auth_form="key-colon"))
    (sent,) = server.received
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_followed_and_the_body_is_sent_once(server: ScriptedServer, status: int) -> None:
    server.script(Answer(status, "", headers={"Location": "http://evil.example/steal"}))
    with pytest.raises(errors.InvoiceCloudRejectedError, match="redirect"):
        start(make_client(server.url))
    assert len(server.received) == 1


def test_message_other_than_success_is_a_rejection_carrying_ic_text(server: ScriptedServer) -> None:
    server.script(Answer(200, json.dumps({"Message": "Invalid biller", "Data": None})))
    with pytest.raises(errors.InvoiceCloudRejectedError, match="Invalid biller"):
        start(make_client(server.url))


def test_success_without_url_is_a_rejection(server: ScriptedServer) -> None:
    server.script(Answer(200, json.dumps({"Message": "SUCCESS", "Data": {}})))
    with pytest.raises(errors.InvoiceCloudRejectedError):
        start(make_client(server.url))


def test_url_outside_the_allowed_prefixes_never_comes_back(server: ScriptedServer) -> None:
    server.script(success("https://evil.example/pay"))
    with pytest.raises(errors.UnexpectedPaymentUrlError):
        start(make_client(server.url))


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials(server: ScriptedServer, status: int) -> None:
    server.script(Answer(status, json.dumps({"Message": "Authorization has been denied for this request."})))
    with pytest.raises(errors.InvoiceCloudRejectedError, match="refused our credentials") as caught:
        start(make_client(server.url))
    assert caught.value.ic_status == status


def test_bad_request_carries_ic_message(server: ScriptedServer) -> None:
    server.script(Answer(400, json.dumps({"Message": "Customers[0].AccountNumber is required", "Data": None})))
    with pytest.raises(errors.InvoiceCloudRejectedError, match="AccountNumber is required"):
        start(make_client(server.url))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_unavailable_and_the_post_is_not_repeated(server: ScriptedServer, status: int) -> None:
    server.script(Answer(status, "oops", "text/plain"), success())
    with pytest.raises(errors.InvoiceCloudUnavailableError):
        start(make_client(server.url))
    assert len(server.received) == 1


def test_malformed_answer_is_unavailable(server: ScriptedServer) -> None:
    server.script(Answer(200, "<html>maintenance</html>", "text/html"))
    with pytest.raises(errors.InvoiceCloudUnavailableError, match="not a JSON object"):
        start(make_client(server.url))


def test_read_timeout_is_a_timeout_and_the_post_is_not_repeated(server: ScriptedServer) -> None:
    server.script(Answer(200, "{}", delay=1.0), success())
    with pytest.raises(errors.InvoiceCloudTimeoutError):
        start(make_client(server.url, read_timeout=0.3))
    assert len(server.received) == 1


def test_deadline_caps_the_read_timeout(server: ScriptedServer) -> None:
    server.script(Answer(200, "{}", delay=1.5))
    began = time.monotonic()
    with pytest.raises(errors.InvoiceCloudTimeoutError):
        start(make_client(server.url, read_timeout=10.0, deadline=0.4))
    assert time.monotonic() - began < 1.2


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_is_unavailable() -> None:
    with pytest.raises(errors.InvoiceCloudUnavailableError, match="could not be reached"):
        start(make_client(f"http://127.0.0.1:{closed_port()}"))


def test_retry_rules_cpv2_only_on_connection_errors() -> None:
    client = make_client("http://127.0.0.1:9")
    retry = client._retries("/cloudpaymentsapi/v2")
    assert (retry.total, retry.connect, retry.read, retry.status, retry.other) == (1, 1, 0, 0, 0)


def test_retry_rules_reads_retry_gateway_errors_twice() -> None:
    client = make_client("http://127.0.0.1:9")
    reads = client._retries("/portal/webservices/CloudManagement.asmx/ViewCustomerRecord")
    writes = client._retries("/portal/webservices/CloudManagement.asmx/UpdateCustomerRecord")
    assert reads.status == 2 and set(reads.status_forcelist) == {502, 503, 504}
    assert writes.status == 0 and writes.connect == 1


def test_the_api_key_is_in_no_error_message_or_log_line(
    server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script(
        Answer(401, "{}"),
        Answer(500, API_KEY, "text/plain"),
        Answer(200, "not json"),
        Answer(200, json.dumps({"Message": "bad", "Data": None})),
        success("https://evil.example/"),
    )
    client = make_client(server.url)
    messages = []
    for _ in range(5):
        with pytest.raises(errors.InvoiceCloudError) as caught:
            start(client)
        messages.append(str(caught.value))
        messages.append(repr(caught.value))
    captured = capfd.readouterr()
    assert all(API_KEY not in message for message in messages)
    assert API_KEY not in captured.out + captured.err


# ---- customer records (CloudManagement) --------------------------------------------------------------

MISSING = "(?i)not found"
RECORD_XML = """<?xml version="1.0" encoding="utf-8"?>
<CustomerRecord xmlns="https://www.invoicecloud.com/portal/webservices/">
  <AccountNumber>ACCT-1</AccountNumber><Registered>true</Registered><RegistrationDate>01/15/2026</RegistrationDate>
  <LoginName>someone@example.com</LoginName><AutoPay>false</AutoPay><PaperInvoices>true</PaperInvoices>
</CustomerRecord>"""


def fault(text: str) -> Answer:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>{text}</faultstring></soap:Fault>"
        "</soap:Body></soap:Envelope>"
    )
    return Answer(500, body, "text/xml")


def saved(value: str = "true") -> Answer:
    return Answer(
        200,
        f'<?xml version="1.0"?><boolean xmlns="https://www.invoicecloud.com/portal/webservices/">{value}</boolean>',
        "text/xml",
    )


def test_view_customer_record_reads_the_record_and_sends_the_credentials(server: ScriptedServer) -> None:
    server.script(Answer(200, RECORD_XML, "text/xml"))
    record = make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING)
    assert record is not None and (record.account_number, record.registered, record.auto_pay) == ("ACCT-1", True, False)
    (sent,) = server.received
    assert sent.path == "/portal/webservices/CloudManagement.asmx/ViewCustomerRecord"
    assert dict(parse_qsl(sent.body.decode())) == {"BillerGUID": "b", "WebServiceKey": "w", "AccountNumber": "ACCT-1"}
    assert "LoginName" not in repr(record) and "someone@example.com" not in repr(record)


def test_a_missing_record_fault_is_none(server: ScriptedServer) -> None:
    server.script(fault("Customer record not found for account ACCT-9"))
    assert make_client(server.url).view_customer_record("ACCT-9", missing_fault=MISSING) is None


def test_another_fault_is_a_rejection(server: ScriptedServer) -> None:
    server.script(fault("Invalid BillerGUID or WebServiceKey"))
    with pytest.raises(errors.InvoiceCloudRejectedError, match="Invalid BillerGUID"):
        make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING)


def test_reads_are_retried_twice_on_gateway_errors(server: ScriptedServer) -> None:
    server.script(
        Answer(503, "busy", "text/plain"), Answer(502, "busy", "text/plain"), Answer(200, RECORD_XML, "text/xml")
    )
    assert make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING) is not None
    assert len(server.received) == 3


def test_reads_give_up_after_two_retries(server: ScriptedServer) -> None:
    server.script(*[Answer(504, "busy", "text/plain")] * 4)
    with pytest.raises(errors.InvoiceCloudUnavailableError):
        make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING)
    assert len(server.received) == 3


@pytest.mark.parametrize("body", ["<html>oops", "<CustomerRecord><AccountNumber>A</AccountNumber></CustomerRecord>"])
def test_a_malformed_record_is_unavailable(server: ScriptedServer, body: str) -> None:
    server.script(Answer(200, body, "text/xml"))
    with pytest.raises(errors.InvoiceCloudUnavailableError):
        make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING)


def test_xml_entities_are_not_expanded(server: ScriptedServer) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><CustomerRecord>&a;</CustomerRecord>'
    server.script(Answer(200, bomb, "text/xml"))
    with pytest.raises(errors.InvoiceCloudUnavailableError):
        make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING)


def test_create_sends_billing_data_and_never_pin_or_blocks(server: ScriptedServer) -> None:
    from avocette.invoicecloud.customers import NewCustomerRecord

    server.script(saved())
    make_client(server.url).create_customer_record(
        NewCustomerRecord(account_number="ACCT-2", customer_name="N", city="Tampa", registration_value="R-1")
    )
    (sent,) = server.received
    form = dict(parse_qsl(sent.body.decode()))
    assert form == {
        "BillerGUID": "b",
        "WebServiceKey": "w",
        "AccountNumber": "ACCT-2",
        "CustomerName": "N",
        "City": "Tampa",
        "RegistrationValue": "R-1",
    }
    assert sent.path.endswith("/UpdateCustomerRecord")


def test_create_refused_or_not_saved_is_a_rejection_and_a_gateway_error_is_not_repeated(server: ScriptedServer) -> None:
    from avocette.invoicecloud.customers import NewCustomerRecord

    record = NewCustomerRecord(account_number="ACCT-2")
    client = make_client(server.url)
    server.script(saved("false"), fault("Account locked"), Answer(503, "busy", "text/plain"), saved())
    with pytest.raises(errors.InvoiceCloudRejectedError):
        client.create_customer_record(record)
    with pytest.raises(errors.InvoiceCloudRejectedError, match="Account locked"):
        client.create_customer_record(record)
    with pytest.raises(errors.InvoiceCloudUnavailableError):
        client.create_customer_record(record)
    assert len(server.received) == 3


def test_a_call_deadline_shorter_than_the_clients(server: ScriptedServer) -> None:
    server.script(Answer(200, RECORD_XML, "text/xml", delay=1.0))
    began = time.monotonic()
    with pytest.raises(errors.InvoiceCloudTimeoutError):
        make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING, deadline_seconds=0.3)
    assert time.monotonic() - began < 0.9


@pytest.mark.parametrize("left", [0.0, -0.2])
def test_a_call_whose_deadline_has_passed_is_a_timeout_sent_to_nobody(server: ScriptedServer, left: float) -> None:
    """A call queued behind slower ones may start after its budget is spent: it times out at once
    (neither requests' ValueError for a negative timeout, nor the client's whole deadline for 0)."""
    server.script(Answer(200, RECORD_XML, "text/xml"))
    with pytest.raises(errors.InvoiceCloudTimeoutError):
        make_client(server.url).view_customer_record("ACCT-1", missing_fault=MISSING, deadline_seconds=left)
    assert server.received == []
