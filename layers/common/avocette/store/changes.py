"""The change log's items (DESIGN §6g): each event under its day (``CHANGES#{day}`` /
``{at}#{eventId}``), written in the same transaction as its change, read a day at a time by the daily
file; and what we know of an account at Invoice Cloud (``ACCOUNT#{acct}`` / ``INVOICECLOUD``), whose
conditional updates carry Invoice Cloud's events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.changes import ChangeEvent, ChangeKind, InvoiceCloudStatus
from avocette.errors import StoreUnavailableError
from avocette.store import keys
from avocette.store.table import (
    TransactionRaceError,
    dynamodb,
    error_code,
    query_items,
    serialize,
    serialize_value,
    store_errors,
    table_name,
    transact,
)

__all__ = [
    "change_from_item",
    "change_to_item",
    "list_day",
    "mark_create_requested",
    "mark_registration_gone",
    "put_change",
    "record_created",
    "registration_seen",
    "status_from_item",
    "write_with_event",
]


def _sort_key(event: ChangeEvent) -> str:
    return f"{clock.timestamp(event.at)}#{event.event_id}"


def change_to_item(event: ChangeEvent) -> dict[str, Any]:
    return {
        "PK": keys.changes_pk(event.day.isoformat()),
        "SK": _sort_key(event),
        "day": event.day.isoformat(),
        "at": clock.timestamp(event.at),
        "kind": event.kind.value,
        "accountNumber": event.account_number,
        "eventId": event.event_id,
        "portalUser": event.portal_user or None,
    }


def change_from_item(item: Mapping[str, Any]) -> ChangeEvent:
    return ChangeEvent(
        day=date.fromisoformat(item["day"]),
        at=clock.parse_timestamp(item["at"]),
        kind=ChangeKind(item["kind"]),
        account_number=item["accountNumber"],
        event_id=item["eventId"],
        portal_user=item.get("portalUser", ""),
    )


def put_change(event: ChangeEvent) -> dict[str, Any]:
    """The event as an item of its change's transaction (new only: one change, one event)."""
    return {
        "Put": {
            "TableName": table_name(),
            "Item": serialize(change_to_item(event)),
            "ConditionExpression": "attribute_not_exists(SK)",
        }
    }


def list_day(day: date) -> Iterator[ChangeEvent]:
    """A day's events (one partition, strongly consistent)."""
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.changes_pk(day.isoformat())}},
        ConsistentRead=True,
    )
    return (change_from_item(item) for item in items)


# ---- what we know of an account at Invoice Cloud -------------------------------------------------


def _moment(value: Any) -> datetime | None:
    return clock.parse_timestamp(value) if value else None


def status_from_item(item: Mapping[str, Any]) -> InvoiceCloudStatus:
    return InvoiceCloudStatus(
        registered=item.get("registered"),
        create_requested_at=_moment(item.get("createRequestedAt")),
        record_created_at=_moment(item.get("recordCreatedAt")),
        registered_seen_at=_moment(item.get("registeredSeenAt")),
    )


def mark_create_requested(account_number: str, at: datetime) -> None:
    """Remember, before asking Invoice Cloud to create the account's customer record, that we asked."""
    with store_errors():
        dynamodb().update_item(
            TableName=table_name(),
            Key=keys.invoice_cloud_known_key(account_number),
            UpdateExpression="SET #requested = :at",
            ExpressionAttributeNames={"#requested": "createRequestedAt"},
            ExpressionAttributeValues={":at": {"S": clock.timestamp(at)}},
        )


def _status_update(
    account_number: str, update: str, condition: str, names: dict[str, str], values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table_name(),
            "Key": keys.invoice_cloud_known_key(account_number),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


_ATTEMPTS = 3


def write_with_event(change: dict[str, Any], event: ChangeEvent) -> bool:
    """One transaction: ``change`` (a conditional transaction item) and its event. False when the
    change's condition failed (there was nothing, or no longer anything, to change: no event either).
    Cancelled without a condition failing (a conflict with another writer, throttling), it is tried
    again, then :class:`StoreUnavailableError`: the change and its event are written together or not
    at all."""
    for _ in range(_ATTEMPTS):
        try:
            transact([change, put_change(event)])
        except TransactionRaceError as race:
            if "ConditionalCheckFailed" in race.reasons:
                return False
            continue
        return True
    raise StoreUnavailableError("a change and its event could not be written")


def record_created(event: ChangeEvent) -> bool:
    """Log the creation of the account's Invoice Cloud record we asked for: once per request to create
    it (the request's mark is cleared with the event). False when another run logged it already."""
    if event.kind is not ChangeKind.IC_RECORD_CREATED:
        raise ValueError("not a record creation")
    update = _status_update(
        event.account_number,
        "SET #created = :at REMOVE #requested",
        "attribute_exists(#requested)",
        {"#created": "recordCreatedAt", "#requested": "createRequestedAt"},
        {":at": {"S": clock.timestamp(event.at)}},
    )
    return write_with_event(update, event)


def registration_seen(event: ChangeEvent) -> bool:
    """Log that Invoice Cloud says the account is registered, unless we knew it already. False when
    another run logged it first."""
    if event.kind is not ChangeKind.IC_REGISTRATION_SEEN:
        raise ValueError("not a registration")
    update = _status_update(
        event.account_number,
        "SET #registered = :true, #seen = :at",
        "attribute_not_exists(#registered) OR #registered = :false",
        {"#registered": "registered", "#seen": "registeredSeenAt"},
        {":true": serialize_value(True), ":false": serialize_value(False), ":at": {"S": clock.timestamp(event.at)}},
    )
    return write_with_event(update, event)


def mark_registration_gone(account_number: str) -> bool:
    """Invoice Cloud says the account we saw registered is not (any more): remembered, so that its
    next registration is seen and logged again. False when it was not registered as we knew it."""
    try:
        with store_errors():
            dynamodb().update_item(
                TableName=table_name(),
                Key=keys.invoice_cloud_known_key(account_number),
                UpdateExpression="SET #registered = :false",
                ConditionExpression="#registered = :true",
                ExpressionAttributeNames={"#registered": "registered"},
                ExpressionAttributeValues={":true": serialize_value(True), ":false": serialize_value(False)},
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
