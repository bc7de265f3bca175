"""The ledger's items (``LEDGER#{day}`` / ``{at}#{creditKey}``, the UTC day it was recorded): written
with their credits, read by the export, the reconciliation and the tie-out, which mark what they did
with each."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, tzinfo
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.ledger import LedgerEntry, day_bounds, utc_days_of
from avocette.store import keys
from avocette.store.table import dynamodb, error_code, query_items, serialize, store_errors, table_name

__all__ = [
    "entry_from_item",
    "entry_to_item",
    "list_day",
    "list_local_day",
    "mark_confirmed",
    "mark_exported",
    "put_entry",
]


def _moment(value: Any) -> datetime | None:
    return clock.parse_timestamp(str(value)) if value else None


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
        "paidAt": clock.timestamp(entry.paid_at) if entry.paid_at else None,
        "occurredAt": clock.timestamp(entry.occurred_at) if entry.occurred_at else None,
        "feeCents": entry.fee_cents or None,
        "cardType": entry.card_type or None,
        "reasonCode": entry.reason_code or None,
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
        exported_at=_moment(item.get("exportedAt")),
        paid_at=_moment(item.get("paidAt")),
        occurred_at=_moment(item.get("occurredAt")),
        fee_cents=int(item.get("feeCents") or 0),
        card_type=str(item.get("cardType") or ""),
        reason_code=str(item.get("reasonCode") or ""),
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


def list_local_day(day: date, zone: tzinfo) -> list[LedgerEntry]:
    """The entries recorded on a day of ``zone`` (23, 24 or 25 hours): those of the UTC partitions it
    overlaps that fall inside it, in the order they were recorded."""
    start, end = day_bounds(day, zone)
    return [entry for utc_day in utc_days_of(day, zone) for entry in list_day(utc_day) if start <= entry.at < end]


def _mark(entry: LedgerEntry, attribute: str, value: str, *, also: Mapping[str, str] | None = None) -> bool:
    """Set ``attribute`` once (True when this call set it), and each of ``also`` where it is not set."""
    names = {"#a": attribute}
    values = {":v": {"S": value}}
    sets = ["#a = :v"]
    for position, (name, text) in enumerate(sorted((also or {}).items())):
        names[f"#b{position}"] = name
        values[f":b{position}"] = {"S": text}
        sets.append(f"#b{position} = if_not_exists(#b{position}, :b{position})")
    try:
        with store_errors():
            dynamodb().update_item(
                TableName=table_name(),
                Key=keys.ledger_key(entry.day, entry.sort_key),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(SK) AND attribute_not_exists(#a)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def mark_confirmed(entry: LedgerEntry, file_key: str, occurred_at: datetime | None = None) -> bool:
    """Invoice Cloud's payment file ``file_key`` listed this entry's money (the first file that did);
    ``occurred_at``, the file's date of it, is kept where the entry had none (a postback whose
    PaymentDate could not be read)."""
    also = {"occurredAt": clock.timestamp(occurred_at)} if occurred_at is not None else None
    return _mark(entry, "confirmedBy", file_key, also=also)


def mark_exported(entry: LedgerEntry, at: datetime) -> bool:
    return _mark(entry, "exportedAt", clock.timestamp(at))
