"""The ledger's items (``LEDGER#{day}`` / ``{at}#{creditKey}``): written with their credits, read by
the export and the reconciliation, which mark what they did with each."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.ledger import LedgerEntry
from avocette.store import keys
from avocette.store.table import dynamodb, error_code, query_items, serialize, store_errors, table_name

__all__ = ["entry_from_item", "entry_to_item", "list_day", "mark_confirmed", "mark_exported", "put_entry"]


def entry_to_item(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "PK": keys.ledger_pk(entry.day),
        "SK": entry.sort_key,
        "at": clock.timestamp(entry.at),
        "creditKey": entry.credit_key,
        "paymentId": entry.payment_id,
        "kind": entry.kind,
        "paymentGuid": entry.payment_guid or None,
        "method": entry.method,
        "source": entry.source,
        "invoices": dict(entry.invoices),
        "confirmedBy": entry.confirmed_by,
        "exportedAt": clock.timestamp(entry.exported_at) if entry.exported_at else None,
    }


def entry_from_item(item: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        at=clock.parse_timestamp(item["at"]),
        credit_key=item["creditKey"],
        payment_id=item["paymentId"],
        kind=item["kind"],
        payment_guid=item.get("paymentGuid", ""),
        method=item.get("method"),
        source=item["source"],
        invoices=dict(item.get("invoices") or {}),
        confirmed_by=item.get("confirmedBy"),
        exported_at=clock.parse_timestamp(item["exportedAt"]) if item.get("exportedAt") else None,
    )


def put_entry(entry: LedgerEntry) -> dict[str, Any]:
    """The ledger entry as an item of a transaction (new only)."""
    return {
        "Put": {
            "TableName": table_name(),
            "Item": serialize(entry_to_item(entry)),
            "ConditionExpression": "attribute_not_exists(SK)",
        }
    }


def list_day(day: str) -> Iterator[LedgerEntry]:
    """A day's entries in the order they were recorded (strongly consistent)."""
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.ledger_pk(day)}},
        ConsistentRead=True,
    )
    return (entry_from_item(item) for item in items)


def _mark(entry: LedgerEntry, attribute: str, value: str) -> bool:
    """Set ``attribute`` once (True when this call set it)."""
    try:
        with store_errors():
            dynamodb().update_item(
                TableName=table_name(),
                Key=keys.ledger_key(entry.day, entry.sort_key),
                UpdateExpression="SET #a = :v",
                ConditionExpression="attribute_exists(SK) AND attribute_not_exists(#a)",
                ExpressionAttributeNames={"#a": attribute},
                ExpressionAttributeValues={":v": {"S": value}},
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def mark_confirmed(entry: LedgerEntry, file_key: str) -> bool:
    """Invoice Cloud's payment file ``file_key`` listed this entry's money (the first file that did)."""
    return _mark(entry, "confirmedBy", file_key)


def mark_exported(entry: LedgerEntry, at: datetime) -> bool:
    return _mark(entry, "exportedAt", clock.timestamp(at))
