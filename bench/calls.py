"""DynamoDB calls per request, with the capacity they consume and what a million payments cost.

Each request goes through its handler (an API Gateway v2 event in, the response out) against moto in
this process, with the Invoice Cloud simulator; every botocore client's DynamoDB calls are recorded
(the app table's and the idempotency table's). Capacity is computed from the items' sizes as
DynamoDB sizes them (attribute names plus values), by DynamoDB's on-demand rules:

- a strongly consistent read: 1 read request unit (RRU) per 4 KB, per item for GetItem/BatchGetItem,
  on the items' total for a Query; a transactional write: 2 write request units (WRU) per 1 KB of each
  item, a ConditionCheck counted as one (AWS bills it as a transactional write); a plain write: 1 WRU
  per 1 KB of the larger of the item before and after.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from avocette import clock
from avocette.domain.billing import Account, Invoice
from avocette.domain.registration import registration_hash
from avocette.settings.registration import get_registration_hash_key
from avocette.settings.secrets import get_postback_key_ring
from avocette.store import billing, links, table

from bench.stack import Call, moto_stack, recorded
from sandbox.invoicecloud import CustomerRecord, InvoiceCloudSimulator
from sandbox.serving import start_server
from sandbox.stack import StackSecrets
from tests.helpers import FakeContext, http_event, load_function

__all__ = ["PRICES", "CallsResult", "RequestCost", "run"]

# On-demand prices assumed (us-east-1, USD per million request units), as of the date in the report.
PRICES = {"write": 1.25, "read": 0.25}
PRICES_AS_OF = "2026-12-02 (assumed list prices; check the current AWS price list)"


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(item) for item in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(item) for name, item in inner.items())
    if kind in ("SS", "BS"):
        return sum(len(item.encode() if isinstance(item, str) else item) for item in inner)
    if kind == "NS":
        return sum(_value_size({"N": item}) for item in inner)
    raise ValueError(kind)


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (bytes)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _current(table_name: str, key: dict[str, Any]) -> int:
    answer = table.dynamodb().get_item(TableName=table_name, Key=key, ConsistentRead=True)
    return item_size(answer.get("Item") or {})


def _capacity(call: Call) -> tuple[float, float]:
    """(RRU, WRU) of one recorded call."""
    params, response = call.params, call.response
    eventually = 1.0 if params.get("ConsistentRead") else 0.5
    if call.operation == "GetItem":
        return eventually * max(1, math.ceil(item_size(response.get("Item") or {}) / 4096)), 0.0
    if call.operation == "Query":
        total = sum(item_size(item) for item in response.get("Items", []))
        return eventually * max(1, math.ceil(total / 4096)), 0.0
    if call.operation == "BatchGetItem":
        units = 0.0
        for name, items in response.get("Responses", {}).items():
            consistent = params["RequestItems"][name].get("ConsistentRead", False)
            units += sum((1.0 if consistent else 0.5) * max(1, math.ceil(item_size(i) / 4096)) for i in items)
        return units, 0.0
    if call.operation == "TransactWriteItems":
        units = 0.0
        for entry in params["TransactItems"]:
            ((kind, request),) = entry.items()
            size = item_size(request["Item"]) if kind == "Put" else _current(request["TableName"], request["Key"])
            units += 2 * max(1, math.ceil(size / 1024))
        return 0.0, units
    if call.operation in ("PutItem", "UpdateItem", "DeleteItem"):
        size = (
            item_size(params["Item"]) if call.operation == "PutItem" else _current(params["TableName"], params["Key"])
        )
        return 0.0, float(max(1, math.ceil(size / 1024)))
    raise ValueError(f"no capacity rule for {call.operation}")


@dataclass
class RequestCost:
    request: str
    operations: list[str]
    read_units: float
    write_units: float
    goal: str

    @property
    def dollars_per_million(self) -> float:
        return self.read_units * PRICES["read"] + self.write_units * PRICES["write"]


@dataclass
class CallsResult:
    requests: list[RequestCost] = field(default_factory=list)

    def of(self, request: str) -> RequestCost:
        return next(cost for cost in self.requests if cost.request == request)


@contextmanager
def _simulated_stack() -> Iterator[InvoiceCloudSimulator]:
    secrets = StackSecrets()
    simulator = InvoiceCloudSimulator(
        api_key=secrets.ic_api_key,
        biller_guid=secrets.biller_guid,
        web_service_key=secrets.web_service_key,
        clock=clock.utc_now,
    )
    server = start_server(simulator, 0, name="ic-bench")
    simulator.base_url = server.url
    try:
        parameters = {
            "InvoiceCloudBaseUrl": server.url,
            "InvoiceCloudPaymentUrlPrefixes": server.url + "/",
            "InvoiceCloudCustomerPortalUrl": server.url + "/portal/",
            "PublicApiBaseUrl": "https://api.bench",
            "InvoiceCloudPaymentTypeIds": '{"1": "CARD", "2": "ACH"}',
        }
        with moto_stack(parameters, secrets=secrets):
            yield simulator
    finally:
        server.stop()


def _handle(function: str, event: dict[str, Any]) -> tuple[dict[str, Any], list[Call]]:
    module = load_function(function)
    with recorded() as calls:
        answer: dict[str, Any] = module.lambda_handler(event, FakeContext())
    if not 200 <= answer["statusCode"] < 300:
        raise RuntimeError(f"{function}: {answer['statusCode']} {answer.get('body')}")
    return answer, list(calls)


def _cost(request: str, calls: list[Call], goal: str) -> RequestCost:
    reads = writes = 0.0
    for call in calls:
        read, write = _capacity(call)
        reads += read
        writes += write
    return RequestCost(request, [call.operation for call in calls], reads, writes, goal)


def _postback(payment_id: str) -> dict[str, Any]:
    token = get_postback_key_ring().postback_token(payment_id)
    fields = {"PaymentGUID": f"G-{payment_id}", "Approved": "True", "PaymentAmount": "50.00", "PaymentTypeID": "1"}
    return http_event(
        "POST",
        f"/postback/{payment_id}/{token}",
        route="/postback/{paymentId}/{token}",
        path_parameters={"paymentId": payment_id, "token": token},
        sub=None,
        body="&".join(f"{name}={value}" for name, value in fields.items()),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def _accounts(sub: str, count: int) -> list[str]:
    now = clock.utc_now()
    numbers = []
    for position in range(count):
        number = f"C-{uuid.uuid4().hex[:8]}"
        billing.put_account(
            Account(
                account_number=number,
                name="Pat Payer",
                address="1 Main St",
                city="Tampa",
                state="FL",
                zip="33601",
                email="pat@example.com",
                registration_hash=registration_hash(get_registration_hash_key(), f"REG-{number}"),
                billed_as_of=now - timedelta(days=1),
            )
        )
        for invoice in range(2):
            billing.put_invoice(
                Invoice(
                    account_number=number,
                    invoice_number=f"I-{position}-{invoice}",
                    billed_cents=5000,
                    billed_as_of=now - timedelta(days=1),
                )
            )
        if sub:
            links.put_link(links.Link(sub=sub, account_number=number, linked_at=now))
        numbers.append(number)
    return numbers


def run(log: list[str]) -> CallsResult:
    result = CallsResult()
    with _simulated_stack() as simulator:
        for function in ("accounts", "start_payment", "postback", "register_user"):
            load_function(function)
        sub = "bench-payer"
        (one,) = _accounts(sub, 1)
        _answer, calls = _handle("accounts", http_event("GET", "/accounts", sub=sub))
        result.requests.append(_cost("GET /accounts (1 linked account)", calls, "1 + 1 per account = 2"))
        _accounts(sub, 1)
        _answer, calls = _handle("accounts", http_event("GET", "/accounts", sub=sub))
        result.requests.append(_cost("GET /accounts (2 linked accounts)", calls, "1 + 1 per account = 3"))

        body = {"invoices": [{"accountNumber": one, "invoiceNumber": "I-0-0"}]}
        answer, calls = _handle("start_payment", http_event("POST", "/payments", sub=sub, body=body))
        payment_id = json.loads(answer["body"])["paymentId"]
        result.requests.append(_cost("POST /payments", calls, "<= 3 + 1 per account = 4"))
        body = {"invoices": [{"accountNumber": one, "invoiceNumber": "I-0-1"}]}
        keyed = http_event("POST", "/payments", sub=sub, body=body, headers={"Idempotency-Key": "bench-1"})
        _answer, calls = _handle("start_payment", keyed)
        result.requests.append(_cost("POST /payments with an Idempotency-Key", calls, "<= 4 + 2"))

        _answer, calls = _handle("postback", _postback(payment_id))
        result.requests.append(_cost("first postback", calls, "2"))
        _answer, calls = _handle("postback", _postback(payment_id))
        result.requests.append(_cost("duplicate postback", calls, "1"))

        right, wrong = _accounts("", 2)
        simulator.put_customer_record(CustomerRecord(right, registered=True))
        registration = {
            "accounts": [
                {"accountNumber": right, "registrationValue": f"REG-{right}"},
                {"accountNumber": wrong, "registrationValue": "a wrong value"},
            ]
        }
        event = http_event("POST", "/registrations", sub="bench-new", body=registration, email_verified=True)
        _answer, calls = _handle("register_user", event)
        result.requests.append(_cost("POST /registrations (2 accounts)", calls, "<= 2 + 2 per account = 6"))
    log.append("calls: done")
    return result
