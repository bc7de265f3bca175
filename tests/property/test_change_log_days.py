"""The customer change log over many days, zones and events (DESIGN §6g): every event stored is in
exactly one day's file, the file of its biller's day, even across the nights the clocks go back; a
re-run of any day writes the same bytes."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from avocette import clock
from avocette.biller.cells import formula_safe
from avocette.biller.changes_file import get_changes_format
from avocette.domain.changes import ChangeEvent, ChangeKind, change_day, change_rows
from avocette.service.changes import export_changes
from avocette.settings.changes import ChangesSettings
from avocette.store import changes as changes_store
from avocette.store.table import dynamodb, table_name, transact
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Stack

# Ten days around the nights Europe's (October 25) and the United States' (November 1) clocks go back.
START = datetime(2026, 10, 23, tzinfo=UTC)
SPAN = timedelta(days=10)
ZONES = ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland", "America/St_Johns", "UTC"]
LATER = datetime(2026, 12, 15, tzinfo=UTC)  # every day of the span is over and settled

moments = st.integers(0, int(SPAN.total_seconds()) - 1).map(lambda seconds: START + timedelta(seconds=seconds))
changes = st.lists(
    st.tuples(
        moments,
        st.sampled_from(list(ChangeKind)),
        st.sampled_from(["ACCT-1", "ACCT 2/B", "=ACCT3"]),
        st.sampled_from(["", "00000000000000a1", "00000000000000b2"]),
    ),
    max_size=25,
)


@pytest.fixture
def frozen_later(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "utc_now", lambda: LATER)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _forget_changes() -> None:
    items = dynamodb().scan(TableName=table_name(), ProjectionExpression="PK, SK")["Items"]
    for key in items:
        if key["PK"]["S"].startswith("CHANGES#"):
            dynamodb().delete_item(TableName=table_name(), Key=key)


def _as_row(event: ChangeEvent) -> tuple[str, ...]:
    return (clock.timestamp(event.at), formula_safe(event.account_number), event.kind.value, event.portal_user)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone_name=st.sampled_from(ZONES), drawn=changes)
def test_every_event_is_in_the_file_of_its_billers_day_and_in_no_other(
    stack: Stack, frozen_later: None, zone_name: str, drawn: list[tuple[datetime, ChangeKind, str, str]]
) -> None:
    zone = ZoneInfo(zone_name)
    s3: Any = boto3.client("s3")
    _forget_changes()
    # Given events recorded over the span, each under its biller's day
    events = [
        ChangeEvent.recorded(kind, account, at=at, zone=zone, event_id=uuid.uuid4().hex, portal_user=user)
        for at, kind, account, user in drawn
    ]
    for event in events:
        transact([changes_store.put_change(event)])

    # When every day of the span (and one on either side) is written
    files: dict[date, bytes] = {}
    for day in _days(change_day(START, zone) - timedelta(days=1), change_day(START + SPAN, zone) + timedelta(days=1)):
        result = export_changes(day, settings=ChangesSettings(), time_zone=zone, bucket=stack.names.exports_bucket)
        files[day] = s3.get_object(Bucket=result.bucket, Key=result.key)["Body"].read()

    # Then each event is one row, in the file of its day alone, and each file is its day's events
    changes_format = get_changes_format("biller-changes-v1")
    listed: Counter[tuple[str, ...]] = Counter()
    for day, data in files.items():
        own = [event for event in events if event.at.astimezone(zone).date() == day]  # the oracle: its date there
        assert data == changes_format.render(change_rows(own)), day
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))[1:]
        listed.update(tuple(row) for row in rows)
    assert listed == Counter(_as_row(event) for event in events)
    # and a re-run of any day writes the same bytes
    for day in list(files)[::3]:
        result = export_changes(day, settings=ChangesSettings(), time_zone=zone, bucket=stack.names.exports_bucket)
        assert s3.get_object(Bucket=result.bucket, Key=result.key)["Body"].read() == files[day]
