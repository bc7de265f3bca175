"""Accounts and invoices: reading them, and writing them as billing data describes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from avocette import clock
from avocette.domain.billing import Account, Credit, Invoice, InvoiceRef
from avocette.store import keys
from avocette.store.table import deserialize, dynamodb, query_items, serialize, store_errors, table_name

__all__ = [
    "account_from_item",
    "account_to_item",
    "get_account",
    "get_accounts",
    "get_invoices",
    "invoice_from_item",
    "invoice_to_item",
    "list_invoices",
    "put_account",
    "put_invoice",
]

_BATCH_GET_LIMIT = 100


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _parse_day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _moment(value: Any) -> Any:
    return clock.parse_timestamp(value) if value else None


def account_to_item(account: Account) -> dict[str, Any]:
    return {
        "PK": keys.account_pk(account.account_number),
        "SK": keys.PROFILE,
        "accountNumber": account.account_number,
        "name": account.name,
        "address": account.address,
        "city": account.city,
        "state": account.state,
        "zip": account.zip,
        "email": account.email,
        "registrationHash": account.registration_hash or None,
        "billedAsOf": clock.timestamp(account.billed_as_of) if account.billed_as_of else None,
    }


def account_from_item(item: Mapping[str, Any]) -> Account:
    return Account(
        account_number=item["accountNumber"],
        name=item.get("name", ""),
        address=item.get("address", ""),
        city=item.get("city", ""),
        state=item.get("state", ""),
        zip=item.get("zip", ""),
        email=item.get("email", ""),
        registration_hash=item.get("registrationHash", ""),
        billed_as_of=_moment(item.get("billedAsOf")),
    )


def invoice_to_item(invoice: Invoice) -> dict[str, Any]:
    return {
        "PK": keys.account_pk(invoice.account_number),
        "SK": keys.invoice_sk(invoice.invoice_number),
        "accountNumber": invoice.account_number,
        "invoiceNumber": invoice.invoice_number,
        "invoiceDate": _day(invoice.invoice_date),
        "dueDate": _day(invoice.due_date),
        "typeId": invoice.type_id,
        "ccServiceFeeCents": invoice.cc_service_fee_cents,
        "achServiceFeeCents": invoice.ach_service_fee_cents,
        "minimumAmountDueCents": invoice.minimum_amount_due_cents,
        "allowPartialPayments": invoice.allow_partial_payments,
        "billedCents": invoice.billed_cents,
        "billedAsOf": clock.timestamp(invoice.billed_as_of),
        "closedAt": clock.timestamp(invoice.closed_at) if invoice.closed_at else None,
        "credits": {
            payment_id: {"cents": credit.cents, "approvedAt": clock.timestamp(credit.approved_at)}
            for payment_id, credit in invoice.credits.items()
        },
        "openPaymentId": invoice.open_payment_id,
        "openUntil": clock.timestamp(invoice.open_until) if invoice.open_until else None,
    }


def invoice_from_item(item: Mapping[str, Any]) -> Invoice:
    return Invoice(
        account_number=item["accountNumber"],
        invoice_number=item["invoiceNumber"],
        invoice_date=_parse_day(item.get("invoiceDate")),
        due_date=_parse_day(item.get("dueDate")),
        type_id=item.get("typeId"),
        cc_service_fee_cents=item.get("ccServiceFeeCents"),
        ach_service_fee_cents=item.get("achServiceFeeCents"),
        minimum_amount_due_cents=item.get("minimumAmountDueCents"),
        allow_partial_payments=item.get("allowPartialPayments"),
        billed_cents=item["billedCents"],
        billed_as_of=clock.parse_timestamp(item["billedAsOf"]),
        closed_at=_moment(item.get("closedAt")),
        credits={
            payment_id: Credit(cents=credit["cents"], approved_at=clock.parse_timestamp(credit["approvedAt"]))
            for payment_id, credit in (item.get("credits") or {}).items()
        },
        open_payment_id=item.get("openPaymentId"),
        open_until=_moment(item.get("openUntil")),
    )


def put_account(account: Account) -> None:
    with store_errors():
        dynamodb().put_item(TableName=table_name(), Item=serialize(account_to_item(account)))


def put_invoice(invoice: Invoice) -> None:
    with store_errors():
        dynamodb().put_item(TableName=table_name(), Item=serialize(invoice_to_item(invoice)))


def _batch_get(item_keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BatchGetItem with consistent reads, following UnprocessedKeys."""
    found: list[dict[str, Any]] = []
    client = dynamodb()
    name = table_name()
    for start in range(0, len(item_keys), _BATCH_GET_LIMIT):
        pending: dict[str, Any] = {name: {"Keys": item_keys[start : start + _BATCH_GET_LIMIT], "ConsistentRead": True}}
        while pending:
            with store_errors():
                answer = client.batch_get_item(RequestItems=pending)
            found.extend(deserialize(raw) for raw in answer.get("Responses", {}).get(name, []))
            pending = answer.get("UnprocessedKeys") or {}
    return found


def get_accounts(account_numbers: Iterable[str]) -> dict[str, Account]:
    unique = sorted(set(account_numbers))
    items = _batch_get([keys.account_key(number) for number in unique])
    return {item["accountNumber"]: account_from_item(item) for item in items}


def get_account(account_number: str) -> Account | None:
    return get_accounts([account_number]).get(account_number)


def get_invoices(refs: Iterable[InvoiceRef]) -> dict[InvoiceRef, Invoice]:
    unique = sorted(set(refs), key=str)
    items = _batch_get([keys.invoice_key(ref.account_number, ref.invoice_number) for ref in unique])
    invoices = (invoice_from_item(item) for item in items)
    return {invoice.ref: invoice for invoice in invoices}


def list_invoices(account_number: str) -> list[Invoice]:
    """Every invoice of an account, in invoice-number order."""
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": keys.account_pk(account_number)},
            ":prefix": {"S": keys.INVOICE_PREFIX},
        },
        ConsistentRead=True,
    )
    return [invoice_from_item(item) for item in items]
