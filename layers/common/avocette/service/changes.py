"""The biller's daily customer change log (DESIGN §6g): the accounts linked, unlinked (by their user, or
by a billing file that changed hands), and created or seen registered at Invoice Cloud on one of the
biller's days, as the file the billing system reads, to the exports bucket as ``changes/<day>.csv``.

Each event was stored under its day, in the biller's zone, in the same transaction as its change
(:mod:`avocette.domain.changes`), so the file of a day is that day's partition alone, in a fixed
order: a re-run writes the same bytes. A day is written only once it is over (and a quarter of an
hour more, for a change whose transaction was still under way at midnight): a file of a day still
running would change under the biller's feet.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from avocette import SERVICE_NAME, clock
from avocette.biller.changes_file import get_changes_format
from avocette.domain.changes import change_rows
from avocette.settings.changes import ChangesSettings
from avocette.store import changes as changes_store
from avocette.store import files, jobs

__all__ = ["SETTLING", "ChangesDayNotOverError", "ChangesResult", "export_changes", "last_complete_day"]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

# How long after the biller's midnight a day's file may be written: longer than any change's
# transaction takes between its clock reading and its commit (the billing import's included).
SETTLING = timedelta(minutes=15)


class ChangesDayNotOverError(ValueError):
    """The day asked for is not over in the biller's zone (or only just): its file would change."""


@dataclass(frozen=True)
class ChangesResult:
    day: str
    bucket: str
    key: str
    rows: int
    events: dict[str, int]  # rows by event

    def as_dict(self) -> dict[str, object]:
        return {"day": self.day, "bucket": self.bucket, "key": self.key, "rows": self.rows, "events": self.events}


def _day_end(day: date, zone: tzinfo) -> datetime:
    """The first moment after ``day`` in ``zone`` (its next midnight, which a DST change may move)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def last_complete_day(now: datetime, zone: tzinfo) -> date:
    """The newest biller's day whose file may be written at ``now``: yesterday once today is
    :data:`SETTLING` old, the day before until then."""
    yesterday = now.astimezone(zone).date() - timedelta(days=1)
    return yesterday if now >= _day_end(yesterday, zone) + SETTLING else yesterday - timedelta(days=1)


def export_changes(
    day: date | None = None, *, settings: ChangesSettings, time_zone: tzinfo, bucket: str
) -> ChangesResult:
    """Write the change log of the biller's ``day`` (default: the last complete one, yesterday) to
    ``bucket``. Raises :class:`ChangesDayNotOverError` for a day that is not over yet."""
    changes_format = get_changes_format(settings.biller_changes_format)
    now = clock.utc_now()
    newest = last_complete_day(now, time_zone)
    day = day or newest
    if day > newest:
        raise ChangesDayNotOverError(
            f"the biller's day {day.isoformat()} is not over (with {SETTLING} to settle); the newest is {newest}"
        )
    rows = change_rows(changes_store.list_day(day))
    key = changes_format.key(day)
    files.put_bytes(bucket, key, changes_format.render(rows), content_type="text/csv; charset=utf-8")
    counted = Counter(row.kind.value for row in rows)
    result = ChangesResult(day.isoformat(), bucket, key, len(rows), dict(sorted(counted.items())))
    metrics.add_metric(name="ChangesExportRows", unit=MetricUnit.Count, value=len(rows))
    metrics.add_metric(name="ChangesExportRun", unit=MetricUnit.Count, value=1)
    logger.info("Biller change log written", extra={"day": result.day, "key": key, "rows": len(rows), **counted})
    jobs.record_run("export_changes", now, {"day": result.day, "rows": len(rows)})  # as a re-run would
    return result
