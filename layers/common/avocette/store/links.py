"""Links between a portal user and the accounts they proved (``USER#{sub}`` / ``ACCOUNT#{acct}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from avocette import clock
from avocette.store import keys
from avocette.store.table import dynamodb, error_code, query_items, serialize, store_errors, table_name

__all__ = ["Link", "create_link", "link_to_item", "list_links", "put_link", "set_invoice_cloud_registered"]


class Link(BaseModel):
    model_config = ConfigDict(frozen=True)

    sub: str
    account_number: str
    linked_at: datetime
    invoice_cloud_registered: bool | None = None


def link_to_item(link: Link) -> dict[str, Any]:
    return {
        "PK": keys.user_pk(link.sub),
        "SK": keys.account_pk(link.account_number),
        "sub": link.sub,
        "accountNumber": link.account_number,
        "linkedAt": clock.timestamp(link.linked_at),
        "invoiceCloudRegistered": link.invoice_cloud_registered,
    }


def _link_from_item(item: dict[str, Any]) -> Link:
    return Link(
        sub=item["sub"],
        account_number=item["accountNumber"],
        linked_at=clock.parse_timestamp(item["linkedAt"]),
        invoice_cloud_registered=item.get("invoiceCloudRegistered"),
    )


def list_links(sub: str) -> dict[str, Link]:
    """The user's linked accounts by account number (consistent read: a link just made counts)."""
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": {"S": keys.user_pk(sub)}, ":prefix": {"S": keys.ACCOUNT_PREFIX}},
        ConsistentRead=True,
    )
    links = (_link_from_item(item) for item in items)
    return {link.account_number: link for link in links}


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


def set_invoice_cloud_registered(sub: str, account_number: str, registered: bool) -> None:
    """Remember what Invoice Cloud last said of the account's registration (on an existing link)."""
    try:
        with store_errors():
            dynamodb().update_item(
                TableName=table_name(),
                Key=keys.link_key(sub, account_number),
                UpdateExpression="SET invoiceCloudRegistered = :registered",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":registered": {"BOOL": registered}},
            )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
