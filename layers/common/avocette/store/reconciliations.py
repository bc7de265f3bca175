"""The record of each Invoice Cloud payment file reconciled (``RECON#{day}`` / ``FILE#{key}``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from avocette import clock
from avocette.store import keys
from avocette.store.table import dynamodb, query_items, serialize, store_errors, table_name

__all__ = ["list_reconciled_files", "record_reconciled_file"]


def record_reconciled_file(
    *, day: date, key: str, report_key: str, rows: int, counts: Mapping[str, Any], finished_at: datetime
) -> None:
    """The last run of a file: a file dropped again (or rewritten under its key) is reconciled again,
    row by row, and changes nothing it already did; this records the latest run's counts."""
    item = {
        **{name: value["S"] for name, value in keys.reconciliation_key(day.isoformat(), key).items()},
        "key": key,
        "reportKey": report_key,
        "rows": rows,
        "counts": dict(counts),
        "finishedAt": clock.timestamp(finished_at),
    }
    with store_errors():
        dynamodb().put_item(TableName=table_name(), Item=serialize(item))


def list_reconciled_files(day: date) -> list[str]:
    """The keys of the Invoice Cloud payment files of ``day`` (the day their keys name) that were
    reconciled, in key order."""
    items = query_items(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.reconciliation_pk(day.isoformat())}},
        ConsistentRead=True,
    )
    return sorted(str(item["key"]) for item in items)
