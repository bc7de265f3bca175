"""The last run of each scheduled job (``JOB#{name}`` / ``LAST_RUN``), which ``python -m tools health``
reads: a job that stopped running shows its age there as well as in its alarm.

What a job records must be what a re-run of it would record (when it finished, by the job's clock,
and facts of its output, never counts of what this run changed), so that a job retried after a
fault leaves the table as one clean run would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from avocette import clock
from avocette.store.table import deserialize, dynamodb, serialize, store_errors, table_name

__all__ = ["JobRun", "last_run", "record_run"]

_SORT_KEY = "LAST_RUN"


@dataclass(frozen=True)
class JobRun:
    """When a job last finished and facts of its output (never payer data)."""

    job: str
    finished_at: datetime
    summary: dict[str, int | str] = field(default_factory=dict)


def _key(job: str) -> dict[str, dict[str, str]]:
    return {"PK": {"S": f"JOB#{job}"}, "SK": {"S": _SORT_KEY}}


def record_run(job: str, finished_at: datetime, summary: Mapping[str, int | str] | None = None) -> None:
    """Overwrite the job's last run (an UpdateItem, which the jobs' policies allow)."""
    with store_errors():
        dynamodb().update_item(
            TableName=table_name(),
            Key=_key(job),
            UpdateExpression="SET finishedAt = :at, summary = :summary",
            ExpressionAttributeValues=serialize({":at": clock.timestamp(finished_at), ":summary": dict(summary or {})}),
        )


def last_run(job: str, *, table: str | None = None) -> JobRun | None:
    """The job's last run, or None when it never ran (``table``: another than ``APP_TABLE_NAME``'s)."""
    with store_errors():
        item = dynamodb().get_item(TableName=table or table_name(), Key=_key(job), ConsistentRead=True).get("Item")
    if item is None:
        return None
    plain = deserialize(item)
    return JobRun(job, clock.parse_timestamp(str(plain["finishedAt"])), dict(plain.get("summary") or {}))
