"""What Invoice Cloud's balance refresh reads, and the nonces of its signed calls (DESIGN §3).

The refresh reads an account's invoices and nothing else: one Query of the ``ACCOUNT#{number}``
partition projected on :data:`REFRESH_ATTRIBUTES`, which its IAM policy names as the only attributes it
may read (the profile's name, address and email, and the invoices' holds, never reach it). The
profile answers with its sort key alone, which is how an account without open invoices is told from
no account at all.
"""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError

from avocette.domain.billing import Invoice
from avocette.store import keys
from avocette.store.billing import invoice_from_item
from avocette.store.table import dynamodb, error_code, query_items, serialize_value, store_errors, table_name

__all__ = ["REFRESH_ATTRIBUTES", "read_invoices_for_refresh", "remember_nonce"]

# Every attribute the refresh reads (template.yaml's RefreshBalancesFunction allows these alone).
REFRESH_ATTRIBUTES = (
    "SK",
    "accountNumber",
    "invoiceNumber",
    "invoiceDate",
    "dueDate",
    "minimumAmountDueCents",
    "allowPartialPayments",
    "billedCents",
    "billedAsOf",
    "closedAt",
    "credits",
)


def read_invoices_for_refresh(account_number: str) -> list[Invoice] | None:
    """The account's invoices (closed ones too), or ``None`` when the billing data has no such account.
    One consistent Query: a payment approved a moment ago is already in the credits."""
    names = {f"#a{index}": name for index, name in enumerate(REFRESH_ATTRIBUTES)}
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.account_pk(account_number)}},
        ExpressionAttributeNames=names,
        ProjectionExpression=", ".join(names),
        ConsistentRead=True,
    )
    found = False
    invoices: list[Invoice] = []
    for item in items:
        found = True
        if str(item["SK"]).startswith(keys.INVOICE_PREFIX):
            invoices.append(invoice_from_item(item))
    return invoices if found else None


def remember_nonce(nonce: str, *, until: datetime) -> bool:
    """Keep a signed call's nonce until its window ends; False when it was seen before (a replay)."""
    item = {
        **keys.refresh_nonce_key(nonce),
        "ttl": serialize_value(int(until.timestamp())),
    }
    try:
        with store_errors():
            dynamodb().put_item(TableName=table_name(), Item=item, ConditionExpression="attribute_not_exists(PK)")
    except ClientError as exc:  # store_errors lets the failed condition through
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
