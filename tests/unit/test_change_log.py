"""The customer change log's rules and its file (DESIGN §6g): which biller's day an event belongs to,
the file's order and bytes, its format file, what Invoice Cloud's answers change, and when a day is
over."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from avocette.biller.changes_file import ChangesFormat, ChangesFormatError, get_changes_format
from avocette.domain.changes import (
    ChangeEvent,
    ChangeKind,
    InvoiceCloudChanges,
    InvoiceCloudStatus,
    change_day,
    change_rows,
    invoice_cloud_changes,
    portal_user_ref,
)
from avocette.formats import load_format
from avocette.service.changes import SETTLING, last_complete_day

NEW_YORK = ZoneInfo("America/New_York")
AT = datetime(2026, 11, 25, 15, 4, 5, tzinfo=UTC)


def event(
    kind: ChangeKind = ChangeKind.LINKED,
    account: str = "ACCT-1001",
    *,
    at: datetime = AT,
    user: str = "",
    event_id: str | None = None,
    zone: ZoneInfo = NEW_YORK,
) -> ChangeEvent:
    return ChangeEvent.recorded(
        kind, account, at=at, zone=zone, event_id=event_id or f"{random.getrandbits(128):032x}", portal_user=user
    )


def parsed(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# ---- the biller's day --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "zone", "day"),
    [
        # Evening in New York is already the next day in UTC: the biller's day wins.
        (datetime(2026, 11, 26, 3, 30, tzinfo=UTC), "America/New_York", date(2026, 11, 25)),
        (datetime(2026, 11, 26, 5, 0, tzinfo=UTC), "America/New_York", date(2026, 11, 26)),
        # The night the clocks go back (2026-11-01, 02:00 EDT -> 01:00 EST): 25 hours, one day.
        (datetime(2026, 11, 1, 4, 0, tzinfo=UTC), "America/New_York", date(2026, 11, 1)),
        (datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC), "America/New_York", date(2026, 11, 1)),
        (datetime(2026, 11, 2, 5, 0, tzinfo=UTC), "America/New_York", date(2026, 11, 2)),
        # East of UTC the biller's day starts before UTC's.
        (datetime(2026, 11, 25, 23, 30, tzinfo=UTC), "Europe/Berlin", date(2026, 11, 26)),
        (datetime(2026, 11, 25, 18, 29, tzinfo=UTC), "Asia/Kolkata", date(2026, 11, 25)),
        (datetime(2026, 11, 25, 18, 30, tzinfo=UTC), "Asia/Kolkata", date(2026, 11, 26)),
    ],
)
def test_an_event_belongs_to_the_billers_day_of_its_moment(at: datetime, zone: str, day: date) -> None:
    assert change_day(at, ZoneInfo(zone)) == day
    assert event(at=at, zone=ZoneInfo(zone)).day == day


def test_a_moment_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        change_day(datetime(2026, 11, 25, 12, 0), NEW_YORK)


@pytest.mark.parametrize(
    ("now", "newest"),
    [
        # 06:30 UTC, the schedule: 01:30 in New York, yesterday is over and settled.
        (datetime(2026, 11, 26, 6, 30, tzinfo=UTC), date(2026, 11, 25)),
        # Ten minutes after New York's midnight: yesterday has not settled; the day before is the newest.
        (datetime(2026, 11, 26, 5, 10, tzinfo=UTC), date(2026, 11, 24)),
        (datetime(2026, 11, 26, 5, 15, tzinfo=UTC), date(2026, 11, 25)),
        # Late in New York's evening, already the next day in UTC: yesterday is still New York's.
        (datetime(2026, 11, 26, 3, 0, tzinfo=UTC), date(2026, 11, 24)),
        # The 25-hour day: it ends at 05:00 UTC, not 04:00.
        (datetime(2026, 11, 2, 4, 30, tzinfo=UTC), date(2026, 10, 31)),
        (datetime(2026, 11, 2, 5, 15, tzinfo=UTC), date(2026, 11, 1)),
    ],
)
def test_a_day_is_complete_a_quarter_of_an_hour_after_the_billers_midnight(now: datetime, newest: date) -> None:
    assert timedelta(minutes=15) == SETTLING
    assert last_complete_day(now, NEW_YORK) == newest


# ---- portal users -------------------------------------------------------------------------------------


def test_a_portal_user_is_named_by_a_keyed_hash_that_says_nothing_of_the_sub() -> None:
    key = b"k" * 32
    ref = portal_user_ref(key, "alice")
    assert len(ref) == 16 and int(ref, 16) >= 0
    assert ref == portal_user_ref(key, "alice")  # the same user pairs up across files
    assert ref != portal_user_ref(key, "bob")
    assert ref != portal_user_ref(b"x" * 32, "alice")  # keyed: unknown without the key
    assert "alice" not in ref


# ---- the file --------------------------------------------------------------------------------------


def test_the_shipped_format_writes_a_header_and_a_row_per_event_in_time_order() -> None:
    changes_format = get_changes_format("biller-changes-v1")
    events = [
        event(ChangeKind.UNLINKED, "ACCT-2", at=AT + timedelta(minutes=5), user="00000000000000b2"),
        event(ChangeKind.LINKED, "ACCT-2", at=AT, user="00000000000000b2"),
        event(ChangeKind.IC_RECORD_CREATED, "ACCT-2", at=AT),
        event(ChangeKind.LINKED, "ACCT-1", at=AT, user="00000000000000a1"),
    ]
    data = changes_format.render(change_rows(events))
    assert data.endswith(b"\r\n")
    assert parsed(data) == [
        ["ChangedAt", "AccountNumber", "Event", "PortalUser"],
        ["2026-11-25T15:04:05Z", "ACCT-1", "LINKED", "00000000000000a1"],
        # Within one moment, an account's link comes before what its registration did at Invoice Cloud.
        ["2026-11-25T15:04:05Z", "ACCT-2", "LINKED", "00000000000000b2"],
        ["2026-11-25T15:04:05Z", "ACCT-2", "IC_RECORD_CREATED", ""],
        ["2026-11-25T15:09:05Z", "ACCT-2", "UNLINKED", "00000000000000b2"],
    ]
    assert changes_format.key(date(2026, 11, 25)) == "changes/2026-11-25.csv"


def test_the_same_events_in_any_order_are_the_same_bytes() -> None:
    changes_format = get_changes_format("biller-changes-v1")
    kinds = list(ChangeKind)
    events = [
        event(kinds[n % len(kinds)], f"ACCT-{n % 3}", at=AT + timedelta(seconds=n % 4), user=f"{n % 2:016x}")
        for n in range(40)
    ]
    data = changes_format.render(change_rows(events))
    for seed in range(5):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        assert changes_format.render(change_rows(shuffled)) == data
    assert len(parsed(data)) == 41


def test_an_empty_day_is_a_file_with_its_header_only() -> None:
    assert get_changes_format("biller-changes-v1").render([]) == b"ChangedAt,AccountNumber,Event,PortalUser\r\n"


@pytest.mark.parametrize("account", ['=HYPERLINK("http://x")', "+1", "-1", "@SUM(A1)", "\tA", "\rA"])
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(account: str) -> None:
    data = get_changes_format("biller-changes-v1").render(change_rows([event(account=account)]))
    assert parsed(data)[1][1] == "'" + account


def test_the_columns_are_our_fields_only_so_no_format_can_carry_payer_details() -> None:
    shipped = load_format("biller-changes-v1")
    for field in ("name", "email", "sub", "address"):
        with pytest.raises(ValueError, match="columns"):
            ChangesFormat.model_validate({**shipped, "columns": [["Who", field]]})


def test_every_event_needs_its_word() -> None:
    shipped = load_format("biller-changes-v1")
    events = dict(shipped["events"])
    del events["IC_REGISTRATION_SEEN"]
    with pytest.raises(ValueError, match="IC_REGISTRATION_SEEN"):
        ChangesFormat.model_validate({**shipped, "events": events})


def test_a_format_with_other_words_a_zone_and_a_dialect() -> None:
    shipped = load_format("biller-changes-v1")
    other = ChangesFormat.model_validate(
        {
            **shipped,
            "delimiter": ";",
            "lineTerminator": "\n",
            "columns": [["Konto", "accountNumber"], ["Zeit", "at"], ["Was", "event"]],
            "dateFormat": "%d.%m.%Y %H:%M",
            "timeZone": "Europe/Berlin",
            "events": {kind.value: kind.value.lower() for kind in ChangeKind},
        }
    )
    data = other.render(change_rows([event(ChangeKind.UNLINKED, "A-1", user="ffffffffffffffff")]))
    assert data == b"Konto;Zeit;Was\nA-1;25.11.2026 16:04;unlinked\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keyTemplate": "changes/today.csv"}, "{day}"),
        ({"timeZone": "Mars/Olympus"}, "time zone"),
        ({"columns": []}, "columns"),
    ],
)
def test_an_unusable_format_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        ChangesFormat.model_validate({**load_format("biller-changes-v1"), **change})


def test_a_format_name_that_ships_no_file_is_an_error_naming_it() -> None:
    with pytest.raises(ChangesFormatError, match="no format 'biller-changes-v9'"):
        get_changes_format("biller-changes-v9")


# ---- what Invoice Cloud's answers change -------------------------------------------------------------

ASKED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("known", "exists", "created", "registered", "changes"),
    [
        # Invoice Cloud did not answer: nothing is known, nothing changes.
        (None, False, False, None, InvoiceCloudChanges()),
        (InvoiceCloudStatus(create_requested_at=ASKED), False, False, None, InvoiceCloudChanges()),
        # We created the record now.
        (None, True, True, False, InvoiceCloudChanges(record_created=True)),
        # A record we asked for earlier (its answer, or its logging, was lost) is there now.
        (InvoiceCloudStatus(create_requested_at=ASKED), True, False, False, InvoiceCloudChanges(record_created=True)),
        # A record that was there all along: no event.
        (None, True, False, False, InvoiceCloudChanges()),
        (InvoiceCloudStatus(registered=False), True, False, False, InvoiceCloudChanges()),
        # Registered: seen once; the same again is nothing new.
        (None, True, False, True, InvoiceCloudChanges(registration_seen=True)),
        (InvoiceCloudStatus(registered=False), True, False, True, InvoiceCloudChanges(registration_seen=True)),
        (InvoiceCloudStatus(registered=True), True, False, True, InvoiceCloudChanges()),
        # Seen gone (the account changed hands at Invoice Cloud?): remembered, so the next is seen.
        (InvoiceCloudStatus(registered=True), True, False, False, InvoiceCloudChanges(registration_gone=True)),
        # A record whose answer was lost, registered since: both.
        (
            InvoiceCloudStatus(create_requested_at=ASKED),
            True,
            False,
            True,
            InvoiceCloudChanges(record_created=True, registration_seen=True),
        ),
    ],
)
def test_what_an_answer_of_invoice_cloud_changes(
    known: InvoiceCloudStatus | None, exists: bool, created: bool, registered: bool | None, changes: InvoiceCloudChanges
) -> None:
    found = invoice_cloud_changes(known, record_exists=exists, created_now=created, registered=registered)
    assert found == changes
    assert bool(found) == (changes != InvoiceCloudChanges())


def test_an_event_needs_a_zone_an_id_and_an_account() -> None:
    with pytest.raises(ValueError, match="naive"):
        ChangeEvent(date(2026, 11, 25), datetime(2026, 11, 25, 12, 0), ChangeKind.LINKED, "A", "id")
    with pytest.raises(ValueError, match="id and account"):
        ChangeEvent(date(2026, 11, 25), AT, ChangeKind.LINKED, "A", "")
    with pytest.raises(ValueError, match="id and account"):
        ChangeEvent(date(2026, 11, 25), AT, ChangeKind.LINKED, "", "id")
