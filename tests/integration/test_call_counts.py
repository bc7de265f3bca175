"""DynamoDB calls per request (docs/performance.md): every client's calls are counted, the app table's
and the idempotency table's alike, at botocore's one entry point for an API call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from sandbox.invoicecloud import CustomerRecord
from tests.helpers import (
    Stack,
    add_account,
    add_invoice,
    approved_fields,
    http_event,
    invoke,
    send_postback,
    start_payment,
)


class DynamoCalls:
    """The DynamoDB operations made by every botocore client while :meth:`counting`, in order."""

    def __init__(self) -> None:
        self.operations: list[str] = []
        self.active = False

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.operations = []
        self.active = True
        try:
            yield self.operations
        finally:
            self.active = False


@pytest.fixture
def dynamo_calls(monkeypatch: pytest.MonkeyPatch) -> DynamoCalls:
    calls = DynamoCalls()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore has no stubs for it

    def counted(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if calls.active and self.meta.service_model.service_name == "dynamodb":
            calls.operations.append(operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return calls


@pytest.fixture
def alice(stack: Stack) -> Stack:
    """alice has linked A-1 (two invoices) and A-2 (one)."""
    add_account("A-1", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    add_invoice("A-1", "I-2", "20.00")
    add_account("A-2", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-2", "I-3", "15.00")
    return stack


def test_the_counter_sees_every_client(alice: Stack, dynamo_calls: DynamoCalls) -> None:
    import boto3

    with dynamo_calls.counting() as operations:
        boto3.client("dynamodb").list_tables()
        boto3.client("s3").list_buckets()
    assert operations == ["ListTables"]


def test_start_payment_reads_the_links_then_each_account_and_writes_twice(
    alice: Stack, dynamo_calls: DynamoCalls
) -> None:
    with dynamo_calls.counting() as operations:
        answer = start_payment("alice", [("A-1", "I-1"), ("A-1", "I-2"), ("A-2", "I-3")])
    assert answer.status == 201, answer.body
    # The links and the abandoned-session count; each account whole, as its credit balance goes to its
    # oldest invoices whichever were picked (DESIGN §5); the holds; the session.
    assert operations == ["BatchGetItem", "Query", "Query", "TransactWriteItems", "TransactWriteItems"]


def test_start_payment_with_an_idempotency_key_adds_two(alice: Stack, dynamo_calls: DynamoCalls) -> None:
    with dynamo_calls.counting() as operations:
        answer = start_payment("alice", [("A-1", "I-1")], key="k-1")
    assert answer.status == 201, answer.body
    assert len(operations) == 6
    assert sorted(operations) == sorted(
        ["PutItem", "BatchGetItem", "Query", "TransactWriteItems", "TransactWriteItems", "UpdateItem"]
    )
    with dynamo_calls.counting() as operations:
        again = start_payment("alice", [("A-1", "I-1")], key="k-1")
    assert (again.status, again.json) == (answer.status, answer.json)
    assert len(operations) <= 2  # the remembered answer: the idempotency record, nothing of the app's


def test_a_refused_start_writes_nothing(alice: Stack, dynamo_calls: DynamoCalls) -> None:
    add_account("B-1", linked_to=("bob",))
    add_invoice("B-1", "I-9", "10.00")
    with dynamo_calls.counting() as operations:
        answer = start_payment("alice", [("B-1", "I-9")])
    assert answer.status == 404
    assert "TransactWriteItems" not in operations and len(operations) <= 2


def test_list_accounts_is_one_query_plus_one_per_account(alice: Stack, dynamo_calls: DynamoCalls) -> None:
    with dynamo_calls.counting() as operations:
        answer = invoke("accounts", http_event("GET", "/accounts", sub="alice"))
    assert answer.status == 200, answer.body
    assert [account["accountNumber"] for account in answer.json["accounts"]] == ["A-1", "A-2"]
    assert len(answer.json["accounts"][0]["invoices"]) == 2
    assert operations == ["Query"] * (1 + 2)


def test_registration_of_two_accounts(stack: Stack, dynamo_calls: DynamoCalls) -> None:
    add_account("R-1", email="carol@example.com", registration_value="R1-REG")
    add_account("U-1", email="carol@example.com", registration_value="U1-REG")
    stack.simulator.put_customer_record(CustomerRecord("R-1", registered=True))
    stack.simulator.put_customer_record(CustomerRecord("U-1", registered=False))
    body = {
        "accounts": [
            {"accountNumber": "R-1", "registrationValue": "R1-REG"},
            {"accountNumber": "U-1", "registrationValue": "nope"},
        ]
    }
    with dynamo_calls.counting() as operations:
        answer = invoke(
            "register_user", http_event("POST", "/registrations", sub="carol", body=body, email_verified=True)
        )
    assert answer.status == 200, answer.body
    assert [account["outcome"] for account in answer.json["accounts"]] == ["LINKED", "REJECTED"]
    # One read of the accounts, links, budgets and what we knew of them at Invoice Cloud; one transaction
    # for the failure, the link and its change-log event; what Invoice Cloud said of the linked account;
    # its registration, seen for the first time, with its event (DESIGN §6g).
    assert operations == ["BatchGetItem", "TransactWriteItems", "UpdateItem", "TransactWriteItems"]
    assert len(operations) <= 2 + 2 * 2


def test_postback_first_two_then_duplicate_one(alice: Stack, dynamo_calls: DynamoCalls) -> None:
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    fields = approved_fields(payment_id, "30.00")
    with dynamo_calls.counting() as operations:
        assert send_postback(alice, payment_id, fields).status == 200
    assert operations == ["Query", "TransactWriteItems"]
    with dynamo_calls.counting() as operations:
        assert send_postback(alice, payment_id, fields).status == 200
    assert operations == ["Query"]
