"""POST /payments through API Gateway v2 events, against moto and the Invoice Cloud simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
from avocette import clock
from avocette.domain.billing import Credit
from avocette.security import KeyRing

from tests.helpers import (
    AS_OF,
    Stack,
    add_account,
    add_invoice,
    get_invoice,
    get_payment,
    http_event,
    invoke,
    session_id_of,
    start_payment,
    table_items,
)


@pytest.fixture
def alice(stack: Stack) -> Stack:
    """alice is linked to A-1 (two invoices) and A-2 (one); bob to B-1."""
    add_account(
        "A-1", name="Alice Anders", email="alice.billing@example.com", address="12 Orchard Lane", linked_to=("alice",)
    )
    add_invoice("A-1", "I-11", "84.20", type_id=7, cc_fee="2.50")
    add_invoice("A-1", "I-12", "42.15")
    add_account("A-2", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-2", "I-21", "120.00")
    add_account("B-1", name="Bob Brennan", linked_to=("bob",))
    add_invoice("B-1", "I-31", "63.75")
    return stack


def sim_session(stack: Stack, payment_url: str) -> dict[str, Any]:
    answer = requests.get(f"{stack.simulator_url}/_sim/sessions/{session_id_of(payment_url)}", timeout=5)
    answer.raise_for_status()
    return answer.json()


def payments_in_table(stack: Stack) -> list[dict[str, Any]]:
    return [item for item in table_items(stack, "PAYMENT#") if item["SK"] == "PAYMENT"]


# ---- success ------------------------------------------------------------------------------------


def test_start_builds_the_request_from_server_side_data(alice: Stack) -> None:
    answer = start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21"), ("A-1", "I-12")])

    assert answer.status == 201, answer.body
    body = answer.json
    assert set(body) == {"paymentId", "status", "paymentUrl", "amountDue", "sessionExpiresAt"}
    assert body["status"] == "PENDING" and body["amountDue"] == "246.35"
    assert body["paymentUrl"].startswith(alice.simulator_url + "/cloudpayments/")
    assert body["sessionExpiresAt"].endswith("Z")

    sent = sim_session(alice, body["paymentUrl"])["request"]
    payment_id = body["paymentId"]
    assert sent["BillerReference"] == payment_id
    assert sent["ReturnURL"] == f"https://portal.avocette.test/#/return/{payment_id}"
    postback_url = sent["PostBackURL"]
    assert postback_url.startswith(f"{alice.api_base}/postback/{payment_id}/v2.")
    token = postback_url.rsplit("/", 1)[1]
    assert KeyRing.from_secret(alice.secrets.postback_keys).verify_postback_token(payment_id, token)
    assert [c["AccountNumber"] for c in sent["Customers"]] == ["A-1", "A-2"]
    first = sent["Customers"][0]
    assert (first["Name"], first["Address"], first["EmailAddress"]) == (
        "Alice Anders",
        "12 Orchard Lane",
        "alice.billing@example.com",
    )
    assert [(i["InvoiceNumber"], i["BalanceDue"]) for i in first["Invoices"]] == [("I-11", 84.2), ("I-12", 42.15)]
    assert first["Invoices"][0]["TypeID"] == 7 and first["Invoices"][0]["CCServiceFee"] == 2.5
    assert first["Invoices"][1]["TypeID"] == 6 and first["Invoices"][1]["CCServiceFee"] == 1.0
    assert first["Invoices"][0]["DueDate"] == "11/20/2026"
    assert sent["AllowSwipe"] is False and sent["ViewMode"] == 0 and sent["CreateCustomerRecord"] is True
    assert sent["PageResultOptions"]["InvoiceOptions"]["AllowRemove"] is True


def test_start_records_pending_payment_and_holds_each_invoice(alice: Stack) -> None:
    body = start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21")]).json
    (item,) = payments_in_table(alice)
    assert item["status"] == "PENDING" and item["sub"] == "alice" and item["amountDueCents"] == 20420
    assert item["paymentUrl"] == body["paymentUrl"] and item["version"] == 1
    assert item["GSI1PK"] == "USER#alice" and item["GSI2PK"] == "OPEN"
    for account, invoice in (("A-1", "I-11"), ("A-2", "I-21")):
        held = get_invoice(account, invoice)
        assert held.open_payment_id == body["paymentId"]
        assert held.open_until is not None
    assert get_invoice("A-1", "I-12").open_payment_id is None


def test_amounts_are_what_is_payable_after_unbilled_credits(alice: Stack) -> None:
    add_invoice("A-1", "I-13", "100.00", credits={"older": Credit(payment_id="p-0", cents=2500, approved_at=AS_OF)})
    body = start_payment("alice", [("A-1", "I-13")]).json
    assert body["amountDue"] == "75.00"


def test_same_user_same_invoices_while_open_gets_the_same_session(alice: Stack) -> None:
    first = start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21")])
    again = start_payment("alice", [("A-2", "I-21"), ("A-1", "I-11")])
    assert (first.status, again.status) == (201, 200)
    assert again.json == first.json
    assert len(payments_in_table(alice)) == 1


def test_any_other_overlap_is_a_payment_in_progress(alice: Stack) -> None:
    start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21")])
    subset = start_payment("alice", [("A-1", "I-11")])
    superset = start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21"), ("A-1", "I-12")])
    assert (subset.status, subset.json["error"]) == (409, "payment_in_progress")
    assert (superset.status, superset.json["error"]) == (409, "payment_in_progress")
    assert start_payment("alice", [("A-1", "I-12")]).status == 201


def test_a_household_member_cannot_start_a_second_session_on_the_same_invoice(alice: Stack) -> None:
    from avocette.store import links

    links.put_link(links.Link(sub="bob", account_number="A-1", linked_at=AS_OF))
    assert start_payment("alice", [("A-1", "I-11")]).status == 201
    answer = start_payment("bob", [("A-1", "I-11")])
    assert (answer.status, answer.json["error"]) == (409, "payment_in_progress")


# ---- refusals that write nothing ------------------------------------------------------------------


def assert_nothing_written(stack: Stack, before: list[dict[str, Any]]) -> None:
    assert table_items(stack) == before


def test_unregistered_user_is_told_to_register(alice: Stack) -> None:
    before = table_items(alice)
    answer = start_payment("carol", [("A-1", "I-11")])
    assert answer.status == 403
    assert answer.json == {"error": "registration_required", "message": answer.json["message"]}
    assert_nothing_written(alice, before)


def test_another_users_invoice_answers_exactly_like_an_unknown_one(alice: Stack) -> None:
    before = table_items(alice)
    others = start_payment("alice", [("B-1", "I-31")])
    unknown_account = start_payment("alice", [("Z-9", "I-99")])
    unknown_invoice = start_payment("alice", [("A-1", "I-99")])
    assert others.status == unknown_account.status == unknown_invoice.status == 404
    assert others.json == unknown_account.json == unknown_invoice.json
    assert others.json["error"] == "invoice_not_found"
    assert_nothing_written(alice, before)


def test_ownership_is_checked_before_payability(alice: Stack) -> None:
    add_invoice("B-1", "I-32", "0.00")
    assert start_payment("alice", [("B-1", "I-32")]).json["error"] == "invoice_not_found"


@pytest.mark.parametrize(
    "invoice",
    [
        {"amount": "0.00"},
        {"amount": "-12.00"},
        {"amount": "40.00", "credits": {"p-old": Credit(payment_id="p-0", cents=4000, approved_at=AS_OF)}},
    ],
    ids=["zero", "credit-balance", "paid-by-credits"],
)
def test_paid_invoice_is_not_payable(alice: Stack, invoice: dict[str, Any]) -> None:
    add_invoice("A-1", "I-14", invoice["amount"], credits=invoice.get("credits"))
    before = table_items(alice)
    answer = start_payment("alice", [("A-1", "I-11"), ("A-1", "I-14")])
    assert (answer.status, answer.json["error"]) == (409, "invoice_not_payable")
    assert_nothing_written(alice, before)


def selections(count: int) -> list[dict[str, str]]:
    return [{"accountNumber": "A-1", "invoiceNumber": f"I-{n}"} for n in range(count)]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"invoices": [', 400, "invalid_json"),
        ("not json at all", 400, "invalid_json"),
        ({"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11"}], "amount": "1.00"}, 422, "validation_error"),
        ({"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11", "amount": "1.00"}]}, 422, "validation_error"),
        ({"invoices": []}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"invoices": selections(51)}, 422, "validation_error"),
        ({"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11"}] * 2}, 422, "validation_error"),
        ({"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11"},
                       {"accountNumber": " A-1 ", "invoiceNumber": "I-11"}]}, 422, "validation_error"),
        ({"invoices": [{"accountNumber": "", "invoiceNumber": "I-11"}]}, 422, "validation_error"),
        ({"invoices": [{"accountNumber": "A-1", "invoiceNumber": "<script>"}]}, 422, "validation_error"),
        ({"invoices": "A-1"}, 422, "validation_error"),
        ([1, 2], 422, "validation_error"),
    ],
    ids=[
        "truncated-json", "not-json", "unknown-top-field", "unknown-invoice-field", "empty-list", "no-list",
        "over-fifty", "repeated", "repeated-after-trim", "blank-account", "markup", "not-a-list", "array-body",
    ],
)  # fmt: skip
def test_bad_input_gets_the_contract_error_and_writes_nothing(alice: Stack, body: Any, status: int, code: str) -> None:
    before = table_items(alice)
    answer = start_payment("alice", [], body=body)
    assert answer.status == status, answer.body
    assert answer.json["error"] == code and answer.json["message"]
    assert_nothing_written(alice, before)


def test_validation_errors_name_the_field_but_never_echo_input(alice: Stack) -> None:
    answer = start_payment(
        "alice",
        [],
        body={"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11", "cardNumber": "4111111111111111"}]},
    )
    assert answer.status == 422
    assert "4111111111111111" not in answer.body
    assert any("cardNumber" in detail["loc"] for detail in answer.json["details"])


def test_body_over_64_kb_is_413(alice: Stack) -> None:
    before = table_items(alice)
    body = json.dumps({"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11"}], "pad": "x" * 70_000})
    answer = start_payment("alice", [], body=body)
    assert (answer.status, answer.json["error"]) == (413, "payload_too_large")
    assert_nothing_written(alice, before)


def test_no_caller_is_401(alice: Stack) -> None:
    event = http_event(
        "POST", "/payments", sub=None, body={"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11"}]}
    )
    answer = invoke("start_payment", event)
    assert (answer.status, answer.json["error"]) == (401, "unauthorized")


# ---- Idempotency-Key ------------------------------------------------------------------------------


def test_same_key_same_request_replays_the_answer(alice: Stack) -> None:
    first = start_payment("alice", [("A-1", "I-11")], key="click-1")
    second = start_payment("alice", [("A-1", "I-11")], key="click-1")
    assert (first.status, second.status) == (201, 201)
    assert first.json == second.json
    assert len(payments_in_table(alice)) == 1


def test_same_key_other_invoices_is_refused(alice: Stack) -> None:
    start_payment("alice", [("A-1", "I-11")], key="click-1")
    answer = start_payment("alice", [("A-1", "I-12")], key="click-1")
    assert (answer.status, answer.json["error"]) == (422, "idempotency_key_reused")
    assert len(payments_in_table(alice)) == 1


def test_keys_are_per_user(alice: Stack) -> None:
    assert start_payment("alice", [("A-1", "I-11")], key="k").status == 201
    assert start_payment("bob", [("B-1", "I-31")], key="k").status == 201


def test_errors_are_not_remembered(alice: Stack) -> None:
    alice.simulator.update_config({"apiFault": "503", "apiFaultCount": 1})
    failed = start_payment("alice", [("A-1", "I-11")], key="click-9")
    retried = start_payment("alice", [("A-1", "I-11")], key="click-9")
    assert (failed.status, retried.status) == (502, 201)


@pytest.mark.parametrize("key", ["", "x" * 129, "has space", "ünïcode"])
def test_malformed_keys_are_refused(alice: Stack, key: str) -> None:
    event = http_event(
        "POST", "/payments", sub="alice", body={"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-11"}]},
        headers={"Idempotency-Key": key},
    )  # fmt: skip
    answer = invoke("start_payment", event)
    assert (answer.status, answer.json["error"]) == (422, "validation_error")


# ---- Invoice Cloud failures -----------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "status"), [("503", 502), ("500", 502), ("reject", 502), ("malformed", 502)])
def test_invoice_cloud_failure_fails_the_payment_and_releases_the_invoices(
    alice: Stack, fault: str, status: int
) -> None:
    alice.simulator.update_config({"apiFault": fault, "apiFaultCount": 1})
    answer = start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21")])
    assert (answer.status, answer.json["error"]) == (status, "invoice_cloud_unavailable")
    (item,) = payments_in_table(alice)
    assert item["status"] == "FAILED" and item["GSI2PK"].startswith("DAY#") and "paymentUrl" not in item
    assert get_invoice("A-1", "I-11").open_payment_id is None
    assert get_invoice("A-2", "I-21").open_payment_id is None
    assert start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21")]).status == 201


def test_invoice_cloud_timeout_is_504(alice: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackdef import caches

    monkeypatch.setenv("IC_READ_TIMEOUT_SECONDS", "0.5")
    caches.reset()
    alice.simulator.update_config({"apiDelaySeconds": 2, "apiFaultCount": 1})
    answer = start_payment("alice", [("A-1", "I-11")])
    assert (answer.status, answer.json["error"]) == (504, "invoice_cloud_unavailable")
    assert payments_in_table(alice)[0]["status"] == "FAILED"


def test_wrong_api_key_is_502_and_the_key_is_not_in_the_answer(alice: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from stackdef import caches

    boto3.client("secretsmanager").put_secret_value(
        SecretId=alice.names.ic_secret_name,
        SecretString=json.dumps({"apiKey": "wrong-key-123456", "billerGuid": "b", "webServiceKey": "w"}),
    )
    caches.reset()
    answer = start_payment("alice", [("A-1", "I-11")])
    assert answer.status == 502 and "wrong-key-123456" not in answer.body


def test_payment_url_outside_the_allowlist_never_reaches_the_browser(
    alice: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackdef import caches

    monkeypatch.setenv("IC_PAYMENT_URL_PREFIXES", "https://www.invoicecloud.com/")
    caches.reset()
    answer = start_payment("alice", [("A-1", "I-11")])
    assert answer.status == 502 and "cloudpayments" not in answer.body
    assert payments_in_table(alice)[0]["status"] == "FAILED"


def test_view_of_a_new_payment(alice: Stack) -> None:
    body = start_payment("alice", [("A-1", "I-11"), ("A-1", "I-12")]).json
    view = get_payment("alice", body["paymentId"]).json
    assert view["status"] == "PENDING" and view["final"] is False
    assert view["amountDue"] == "126.35" and "amountPaid" not in view
    assert view["billerName"] == "Avocette Utilities"
    assert [(i["invoiceNumber"], i["amountDue"]) for i in view["invoices"]] == [("I-11", "84.20"), ("I-12", "42.15")]
    assert Decimal(view["amountDue"]) == Decimal(body["amountDue"])


def test_before_invoice_cloud_credentials_are_set_start_is_503_and_writes_nothing(alice: Stack) -> None:
    """A new stack's Invoice Cloud secret holds the empty values template.yaml creates it with (a
    trial before Invoice Cloud's test credentials arrive): the payer reads that online payment is not
    available yet and that no money was taken; no payment is written and no invoice held."""
    import boto3

    from stackdef import caches
    from stackdef.template import load_template

    initial = load_template()["Resources"]["InvoiceCloudSecret"]["Properties"]["SecretString"]
    boto3.client("secretsmanager").put_secret_value(SecretId=alice.names.ic_secret_name, SecretString=initial)
    caches.reset()
    before = table_items(alice)

    for key in (None, "retry-1"):
        answer = start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21")], key=key)
        assert (answer.status, answer.json["error"]) == (503, "invoice_cloud_not_configured"), answer.body
        assert "not available yet" in answer.json["message"] and "No money was taken" in answer.json["message"]
    assert table_items(alice) == before
    assert get_invoice("A-1", "I-11").held_by(clock.utc_now()) is None

    # Once ops set the credentials, the same request with the same key starts the payment.
    secret = {
        "apiKey": alice.secrets.ic_api_key,
        "billerGuid": alice.secrets.biller_guid,
        "webServiceKey": alice.secrets.web_service_key,
    }
    boto3.client("secretsmanager").put_secret_value(
        SecretId=alice.names.ic_secret_name, SecretString=json.dumps(secret)
    )
    caches.reset()
    assert start_payment("alice", [("A-1", "I-11"), ("A-2", "I-21")], key="retry-1").status == 201


def test_a_configuration_error_after_the_hold_fails_the_payment_and_frees_its_invoices(alice: Stack) -> None:
    """Should Invoice Cloud's client be unusable once the invoices are held (a setting, not the
    credentials, which are read first), the payment is FAILED like any failed start: no invoice
    stays held for the session and its grace."""
    from dataclasses import replace

    from avocette.api.payments import InvoiceSelection
    from avocette.errors import ConfigurationError
    from avocette.service import starting

    def unusable_client() -> Any:
        raise ConfigurationError("invalid or missing settings: IC_BASE_URL")

    rules = replace(starting.StartRules.from_environment(), client=unusable_client)
    command = starting.StartPaymentCommand(
        sub="alice",
        invoices=[InvoiceSelection(account_number="A-1", invoice_number="I-11")],
        postback_base_url=alice.api_base,
    )
    with pytest.raises(ConfigurationError):
        starting.start_payment(command, rules=rules)
    (payment,) = payments_in_table(alice)
    assert payment["status"] == "FAILED"
    assert get_invoice("A-1", "I-11").held_by(clock.utc_now()) is None
    assert start_payment("alice", [("A-1", "I-11")]).status == 201
