"""The sandbox's scheduler runs a daily ``cron`` at its time of day in the schedule's zone, as
EventBridge Scheduler does for a ScheduleV2 with ``ScheduleExpressionTimezone`` (the biller's export,
just after the biller's midnight, whatever the season)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from sandbox.scheduler import next_daily_run
from stackdef.template import function_specs

EASTERN = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2026, 11, 25, 12, tzinfo=UTC), datetime(2026, 11, 26, 8, 30, tzinfo=UTC)),  # 03:30 EST
        (datetime(2026, 7, 4, 7, 0, tzinfo=UTC), datetime(2026, 7, 4, 7, 30, tzinfo=UTC)),  # 03:30 EDT
        (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),  # the day clocks fall back
        (
            datetime(2026, 3, 8, 6, 0, tzinfo=UTC),
            datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        ),  # the day they spring forward
    ],
)
def test_a_daily_cron_runs_at_its_time_in_its_zone(after: datetime, expected: datetime) -> None:
    assert next_daily_run("cron(30 3 * * ? *)", after, EASTERN) == expected


def test_without_a_zone_a_daily_cron_is_utc_and_a_rate_is_not_daily() -> None:
    assert next_daily_run("cron(30 5 * * ? *)", datetime(2026, 11, 25, 6, tzinfo=UTC)) == datetime(
        2026, 11, 26, 5, 30, tzinfo=UTC
    )
    assert next_daily_run("rate(5 minutes)", datetime(2026, 11, 25, tzinfo=UTC)) is None


def test_the_export_is_scheduled_in_the_billers_zone() -> None:
    (spec,) = [spec for spec in function_specs() if spec.logical_id == "ExportPaymentsFunction"]
    assert (spec.schedules, spec.schedule_time_zone) == (("cron(30 3 * * ? *)",), {"Ref": "BillerTimeZone"})
