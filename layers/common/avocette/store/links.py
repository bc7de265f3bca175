"""Links between a portal user and the accounts they proved (``USER#{sub}`` / ``ACCOUNT#{acct}``).

Every link made or removed by a user or a billing file is told to the biller: its change-log event is
written in the same transaction (DESIGN §6g; :mod:`avocette.store.changes`).

A link keeps the keyed hash of the registration value that proved it: a link lives as long as its
proof (DESIGN §6b). When a billing file changes an account's registration value (the account changed
hands), the import removes the links proven with the old one; GSI1 (``LINKS#{acct}``) finds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from avocette import clock
from avocette.domain.changes import ChangeEvent
from avocette.store import changes, keys
from avocette.store.table import dynamodb, error_code, query_items, serialize, store_errors, table_name

__all__ = [
    "Link",
    "create_link",
    "delete_link",
    "is_linked",
    "link_exists_check",
    "link_from_item",
    "link_key",
    "link_to_item",
    "list_links",
    "new_link_put",
    "put_link",
    "remove_links_not_proven_by",
    "set_invoice_cloud_registered",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    sub: str
    account_number: str
    linked_at: datetime
    invoice_cloud_registered: bool | None = None
    # When Invoice Cloud last answered about the account's registration (None: never).
    invoice_cloud_checked_at: datetime | None = None
    # The keyed hash of the registration value that proved it ("" for links made by hand).
    proof_hash: str = field(default="", repr=False)


def link_to_item(link: Link) -> dict[str, Any]:
    return {
        "PK": keys.user_pk(link.sub),
        "SK": keys.account_pk(link.account_number),
        "sub": link.sub,
        "accountNumber": link.account_number,
        "linkedAt": clock.timestamp(link.linked_at),
        "invoiceCloudRegistered": link.invoice_cloud_registered,
        "invoiceCloudCheckedAt": clock.timestamp(link.invoice_cloud_checked_at)
        if link.invoice_cloud_checked_at
        else None,
        "proofHash": link.proof_hash or None,
        "GSI1PK": keys.account_links_pk(link.account_number),
        "GSI1SK": keys.user_pk(link.sub),
    }


def link_key(sub: str, account_number: str) -> dict[str, Any]:
    return keys.link_key(sub, account_number)


def new_link_put(link: Link) -> dict[str, Any]:
    """A transaction item: the link, on condition that there is none yet."""
    return {
        "Put": {
            "TableName": table_name(),
            "Item": serialize(link_to_item(link)),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def link_exists_check(sub: str, account_number: str) -> dict[str, Any]:
    """A transaction item: the link is (still) there."""
    return {
        "ConditionCheck": {
            "TableName": table_name(),
            "Key": keys.link_key(sub, account_number),
            "ConditionExpression": "attribute_exists(PK)",
        }
    }


def link_from_item(item: Mapping[str, Any]) -> Link:
    return Link(
        sub=item["sub"],
        account_number=item["accountNumber"],
        linked_at=clock.parse_timestamp(item["linkedAt"]),
        invoice_cloud_registered=item.get("invoiceCloudRegistered"),
        invoice_cloud_checked_at=clock.parse_timestamp(item["invoiceCloudCheckedAt"])
        if item.get("invoiceCloudCheckedAt")
        else None,
        proof_hash=item.get("proofHash", ""),
    )


def list_links(sub: str) -> dict[str, Link]:
    """The user's linked accounts by account number (consistent read: a link just made counts)."""
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": {"S": keys.user_pk(sub)}, ":prefix": {"S": keys.ACCOUNT_PREFIX}},
        ConsistentRead=True,
    )
    links = (link_from_item(item) for item in items)
    return {link.account_number: link for link in links}


def is_linked(sub: str, account_number: str) -> bool:
    """Whether the user has a link to the account: one consistent GetItem of the link's key alone."""
    with store_errors():
        answer = dynamodb().get_item(
            TableName=table_name(),
            Key=keys.link_key(sub, account_number),
            ProjectionExpression="PK",
            ConsistentRead=True,
        )
    return "Item" in answer


def put_link(link: Link) -> None:
    with store_errors():
        dynamodb().put_item(TableName=table_name(), Item=serialize(link_to_item(link)))


def create_link(link: Link) -> bool:
    """Link the account to the user; False when they were linked already (nothing changes)."""
    try:
        with store_errors():
            dynamodb().put_item(
                TableName=table_name(),
                Item=serialize(link_to_item(link)),
                ConditionExpression="attribute_not_exists(PK)",
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def set_invoice_cloud_registered(sub: str, account_number: str, registered: bool, at: datetime) -> None:
    """Remember what Invoice Cloud said of the account's registration at ``at`` (on an existing
    link; an answer older than the one remembered changes nothing)."""
    try:
        with store_errors():
            dynamodb().update_item(
                TableName=table_name(),
                Key=keys.link_key(sub, account_number),
                UpdateExpression="SET invoiceCloudRegistered = :registered, invoiceCloudCheckedAt = :at",
                ConditionExpression="attribute_exists(PK) AND "
                "(attribute_not_exists(invoiceCloudCheckedAt) OR invoiceCloudCheckedAt <= :at)",
                ExpressionAttributeValues={":registered": {"BOOL": registered}, ":at": {"S": clock.timestamp(at)}},
            )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


def _delete_link_item(sub: str, account_number: str, condition: str, values: dict[str, Any] | None) -> dict[str, Any]:
    delete: dict[str, Any] = {
        "TableName": table_name(),
        "Key": keys.link_key(sub, account_number),
        "ConditionExpression": condition,
    }
    if values:
        delete["ExpressionAttributeValues"] = values
    return {"Delete": delete}


def delete_link(sub: str, account_number: str, event: ChangeEvent) -> bool:
    """Remove the user's own link to the account, with its ``UNLINKED`` event in the same transaction
    (DESIGN §6g); False when there was no link (and no event)."""
    return changes.write_with_event(_delete_link_item(sub, account_number, "attribute_exists(PK)", None), event)


def remove_links_not_proven_by(
    account_number: str, proof_hash: str, removal_event: Callable[[str], ChangeEvent]
) -> int:
    """Remove the account's links whose proof is not ``proof_hash`` (the registration value changed:
    the account changed hands). Each removal is conditional on the link still holding the proof it
    was read with, and is written with its event (``removal_event(sub)``, DESIGN §6g) in one
    transaction. Answers how many were removed."""
    items = query_items(
        TableName=table_name(),
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.account_links_pk(account_number)}},
    )
    removed = 0
    for item in items:
        held = item.get("proofHash", "")
        if held == proof_hash:
            continue
        condition = "proofHash = :held" if held else "attribute_not_exists(proofHash)"
        values = {":held": {"S": held}} if held else None
        delete = _delete_link_item(item["sub"], account_number, condition, values)
        if changes.write_with_event(delete, removal_event(item["sub"])):
            removed += 1
    return removed
