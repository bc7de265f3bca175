"""The biller's customer change log through the functions (DESIGN §6g): links made and removed by
register_user, links removed by import_billing when an account changes hands, Invoice Cloud records
created and registrations seen, then export_changes writing the day's file to the exports bucket.

The clock is frozen (and moved by the tests), so that every event has the moment, and the biller's
day, the test says."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from avocette import clock
from avocette.domain.changes import ChangeKind, portal_user_ref
from avocette.errors import InvoiceCloudTimeoutError, StoreUnavailableError
from avocette.invoicecloud.client import InvoiceCloudClient
from avocette.service.changes import ChangesDayNotOverError
from avocette.settings.registration import get_registration_hash_key
from avocette.store import changes as changes_store
from werkzeug.test import Client

from sandbox.invoicecloud import CustomerRecord
from sandbox.s3events import object_created_event
from stackdef import caches
from tests.helpers import FakeContext, Stack, add_account, add_invoice, http_event, invoke, load_function, table_items

NOV_25 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 in New York, the sandbox's biller's zone
AFTER_NOV_25 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)  # the schedule: 01:30 in New York
HEADER = ["ChangedAt", "AccountNumber", "Event", "PortalUser"]
BILLING_HEADER = (
    "AccountNumber,Name,Address,City,State,Zip,EmailAddress,RegistrationValue,InvoiceNumber,TypeID,"
    "InvoiceDate,DueDate,BalanceDue,MinimumAmountDue,AllowPartialPayments,CCServiceFee,ACHServiceFee\n"
)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The functions' clock, frozen at ``now[0]`` (set it to move it)."""
    moment = [NOV_25]
    monkeypatch.setattr(clock, "utc_now", lambda: moment[0])
    return moment


@pytest.fixture
def accounts(stack: Stack, now: list[datetime]) -> Stack:
    """In billing: R-1 (registered at Invoice Cloud), U-1 (a record there, not registered), M-1 (no
    record there). Nobody is linked yet."""
    add_account("R-1", name="Rita Reg", email="rita@example.com", registration_value="R1-REG")
    add_account("U-1", name="Una Unreg", email="una@example.com", registration_value="U1-REG")
    add_account("M-1", name="Max Missing", email="max@example.com", registration_value="M1-REG")
    for number in ("R-1", "U-1", "M-1"):
        add_invoice(number, f"INV-{number}", "10.00")
    stack.simulator.put_customer_record(CustomerRecord("R-1", registered=True))
    stack.simulator.put_customer_record(CustomerRecord("U-1", registered=False))
    return stack


def register(sub: str, *accounts: tuple[str, str]) -> dict[str, Any]:
    body = {"accounts": [{"accountNumber": number, "registrationValue": value} for number, value in accounts]}
    answer = invoke("register_user", http_event("POST", "/registrations", sub=sub, body=body))
    assert answer.status == 200, answer.body
    return {account["accountNumber"]: account for account in answer.json["accounts"]}


def unlink(sub: str, number: str) -> int:
    event = http_event(
        "DELETE",
        f"/registrations/{number}",
        route="/registrations/{accountNumber}",
        path_parameters={"accountNumber": number},
        sub=sub,
    )
    return invoke("register_user", event).status


def drop_billing_file(stack: Stack, key: str, rows: list[str]) -> dict[str, Any]:
    """A billing file into the billing bucket, and S3's notification to import_billing."""
    bucket = stack.names.billing_bucket
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=(BILLING_HEADER + "".join(rows)).encode())
    answer: dict[str, Any] = load_function("import_billing").lambda_handler(
        object_created_event(bucket, key), FakeContext()
    )
    return answer


def billing_row(number: str, value: str, *, name: str = "Nia New") -> str:
    profile = f"{number},{name},1 Main St,Tampa,FL,33601,nia@example.com,{value}"
    return f"{profile},INV-{number},6,11/01/2026,12/01/2026,10.00,,false,,\n"


def export(stack: Stack, now: list[datetime], at: datetime, day: str | None = None) -> tuple[dict[str, Any], bytes]:
    """Run export_changes at ``at`` (for ``day``, or its default) and read the file it wrote."""
    now[0] = at
    event: dict[str, Any] = {"day": day} if day else {"version": "0", "detail-type": "Scheduled Event"}
    answer: dict[str, Any] = load_function("export_changes").lambda_handler(event, FakeContext())
    body = boto3.client("s3").get_object(Bucket=answer["bucket"], Key=answer["key"])["Body"].read()
    return answer, body


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def ref(sub: str) -> str:
    return portal_user_ref(get_registration_hash_key(), sub)


def links_the_log_tells(stack: Stack) -> set[tuple[str, str]]:
    """(account, portal user) of every link the stored events leave standing, replayed in order."""
    standing: set[tuple[str, str]] = set()
    events = sorted(
        (changes_store.change_from_item(item) for item in table_items(stack, "CHANGES#")), key=lambda e: e.at
    )
    for event in events:
        pair = (event.account_number, event.portal_user)
        if event.kind is ChangeKind.LINKED:
            assert pair not in standing, f"linked twice without an unlink: {pair}"
            standing.add(pair)
        elif event.kind in (ChangeKind.UNLINKED, ChangeKind.LINK_REMOVED_OCCUPANT_CHANGE):
            assert pair in standing, f"unlinked without a link: {pair}"
            standing.discard(pair)
    return standing


def links_in_the_table(stack: Stack) -> set[tuple[str, str]]:
    return {(item["accountNumber"], ref(item["sub"])) for item in table_items(stack, "USER#")}


# ---- one day of every kind of change ------------------------------------------------------------------


def test_a_day_of_links_unlinks_an_occupant_change_and_invoice_cloud_is_one_file(
    accounts: Stack, now: list[datetime]
) -> None:
    # Given carol links three accounts: one registered at Invoice Cloud, one not, one it has no record of
    linked = register("carol", ("R-1", "R1-REG"), ("U-1", "U1-REG"), ("M-1", "M1-REG"))
    assert {number: linked[number]["invoiceCloudRecord"] for number in linked} == {
        "R-1": "EXISTING",
        "U-1": "EXISTING",
        "M-1": "CREATED",
    }
    # and dave, of her household, links R-1 an hour later (Invoice Cloud's registration is nothing new)
    now[0] = NOV_25.replace(hour=16)
    register("dave", ("R-1", "R1-REG"))
    # and carol unlinks U-1; a stranger's unlink of M-1 is refused and tells the biller nothing
    now[0] = NOV_25.replace(hour=17)
    assert unlink("carol", "U-1") == 204
    assert unlink("erin", "M-1") == 404
    # and a billing file says R-1 changed hands (a new registration value): carol's and dave's links go
    now[0] = NOV_25.replace(hour=18)
    imported = drop_billing_file(accounts, "billing/20261125T170000Z.csv", [billing_row("R-1", "R1-NEW")])
    assert imported["imports"][0]["status"] == "IMPORTED"

    # When the daily job runs after New York's midnight
    answer, data = export(accounts, now, AFTER_NOV_25)

    # Then the file of November 25 lists each change once, by account and event, in time order
    assert answer == {
        "day": "2026-11-25",
        "bucket": accounts.names.exports_bucket,
        "key": "changes/2026-11-25.csv",
        "rows": 9,
        "events": {
            "IC_RECORD_CREATED": 1,
            "IC_REGISTRATION_SEEN": 1,
            "LINKED": 4,
            "LINK_REMOVED_OCCUPANT_CHANGE": 2,
            "UNLINKED": 1,
        },
    }
    carol, dave = ref("carol"), ref("dave")
    assert rows_of(data) == [
        HEADER,
        ["2026-11-25T15:00:00Z", "M-1", "LINKED", carol],
        ["2026-11-25T15:00:00Z", "M-1", "IC_RECORD_CREATED", ""],
        ["2026-11-25T15:00:00Z", "R-1", "LINKED", carol],
        ["2026-11-25T15:00:00Z", "R-1", "IC_REGISTRATION_SEEN", ""],
        ["2026-11-25T15:00:00Z", "U-1", "LINKED", carol],
        ["2026-11-25T16:00:00Z", "R-1", "LINKED", dave],
        ["2026-11-25T17:00:00Z", "U-1", "UNLINKED", carol],
        *sorted(
            [
                ["2026-11-25T18:00:00Z", "R-1", "LINK_REMOVED_OCCUPANT_CHANGE", carol],
                ["2026-11-25T18:00:00Z", "R-1", "LINK_REMOVED_OCCUPANT_CHANGE", dave],
            ]
        ),
    ]
    # and no payer detail: no name, email, registration value or login id
    text = data.decode()
    for detail in ("Rita", "Una", "Max", "Nia", "@", "1-REG", "R1-NEW", "carol", "dave", "erin"):
        assert detail not in text, detail
    # and what the log says is standing is what the table holds
    assert links_the_log_tells(accounts) == links_in_the_table(accounts) == {("M-1", carol)}

    # A re-run, later, by hand, writes the same bytes
    again, same = export(accounts, now, datetime(2026, 11, 29, 12, 0, tzinfo=UTC), day="2026-11-25")
    assert same == data and again["rows"] == 9
    # and the next day's file has its header alone
    _, empty = export(accounts, now, datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    assert rows_of(empty) == [HEADER]


def test_a_day_that_is_not_over_is_refused(accounts: Stack, now: list[datetime]) -> None:
    register("carol", ("U-1", "U1-REG"))
    now[0] = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # 23:00 in New York: November 25 is still running
    with pytest.raises(ChangesDayNotOverError, match="2026-11-25 is not over"):
        load_function("export_changes").lambda_handler({"day": "2026-11-25"}, FakeContext())
    bucket = accounts.names.exports_bucket
    assert boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="changes/").get("KeyCount") == 0


def test_an_event_of_new_yorks_evening_is_in_new_yorks_day_not_utcs(accounts: Stack, now: list[datetime]) -> None:
    now[0] = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)  # 22:30 on November 25 in New York
    register("carol", ("U-1", "U1-REG"))
    _, data = export(accounts, now, AFTER_NOV_25)
    assert rows_of(data) == [HEADER, ["2026-11-26T03:30:00Z", "U-1", "LINKED", ref("carol")]]
    _, next_day = export(accounts, now, datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    assert rows_of(next_day) == [HEADER]


# ---- Invoice Cloud's events --------------------------------------------------------------------------


def ic_events(stack: Stack) -> list[tuple[str, str]]:
    kinds = (ChangeKind.IC_RECORD_CREATED, ChangeKind.IC_REGISTRATION_SEEN)
    events = (changes_store.change_from_item(item) for item in table_items(stack, "CHANGES#"))
    return sorted((e.account_number, e.kind.value) for e in events if e.kind in kinds)


def test_a_registration_is_logged_when_first_seen_and_again_after_it_was_seen_gone(
    accounts: Stack, now: list[datetime]
) -> None:
    register("carol", ("U-1", "U1-REG"))
    assert ic_events(accounts) == []  # a record, not registered: nothing to tell
    # U-1 registers at Invoice Cloud; the next registration in the portal sees it, once
    accounts.simulator.put_customer_record(CustomerRecord("U-1", registered=True))
    register("carol", ("U-1", "U1-REG"))
    register("dave", ("U-1", "U1-REG"))
    assert ic_events(accounts) == [("U-1", "IC_REGISTRATION_SEEN")]
    # Invoice Cloud's registration goes (the account changed hands there), and comes back
    accounts.simulator.put_customer_record(CustomerRecord("U-1", registered=False))
    register("dave", ("U-1", "U1-REG"))
    assert ic_events(accounts) == [("U-1", "IC_REGISTRATION_SEEN")]
    accounts.simulator.put_customer_record(CustomerRecord("U-1", registered=True))
    register("dave", ("U-1", "U1-REG"))
    assert ic_events(accounts) == [("U-1", "IC_REGISTRATION_SEEN")] * 2


def test_a_record_whose_creation_answer_was_lost_is_logged_when_it_is_next_seen(
    accounts: Stack, now: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Invoice Cloud creates M-1's record but its answer never arrives
    create: Callable[..., Any] = InvoiceCloudClient.create_customer_record

    def created_then_lost(self: InvoiceCloudClient, *args: Any, **kwargs: Any) -> Any:
        create(self, *args, **kwargs)
        raise InvoiceCloudTimeoutError("the answer was lost")

    monkeypatch.setattr(InvoiceCloudClient, "create_customer_record", created_then_lost)
    assert register("carol", ("M-1", "M1-REG"))["M-1"]["invoiceCloudRecord"] == "UNKNOWN"
    assert "M-1" in accounts.simulator.customer_records()
    assert ic_events(accounts) == []
    monkeypatch.setattr(InvoiceCloudClient, "create_customer_record", create)

    # When the record is next looked at (dave links the account the next day)
    now[0] = NOV_25.replace(day=26)
    assert register("dave", ("M-1", "M1-REG"))["M-1"]["invoiceCloudRecord"] == "EXISTING"
    register("carol", ("M-1", "M1-REG"))

    # Then its creation is logged, once, on the day it was seen
    assert ic_events(accounts) == [("M-1", "IC_RECORD_CREATED")]
    _, data = export(accounts, now, datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    assert ["2026-11-26T15:00:00Z", "M-1", "IC_RECORD_CREATED", ""] in rows_of(data)


def test_a_registration_whose_event_cannot_be_written_answers_503_and_its_retry_logs_it_once(
    accounts: Stack, now: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = changes_store.transact
    failures = [1]

    def failing_once(items: list[dict[str, Any]]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise StoreUnavailableError("injected")
        real(items)

    monkeypatch.setattr(changes_store, "transact", failing_once)
    body = {"accounts": [{"accountNumber": "M-1", "registrationValue": "M1-REG"}]}
    first = invoke("register_user", http_event("POST", "/registrations", sub="carol", body=body))
    assert (first.status, first.json["error"]) == (503, "service_unavailable")
    assert "M-1" in accounts.simulator.customer_records()  # created at Invoice Cloud; not logged yet
    assert ic_events(accounts) == []

    retry = register("carol", ("M-1", "M1-REG"))

    assert retry["M-1"]["outcome"] == "ALREADY_LINKED"
    assert ic_events(accounts) == [("M-1", "IC_RECORD_CREATED")]
    assert links_the_log_tells(accounts) == links_in_the_table(accounts) == {("M-1", ref("carol"))}


# ---- GET /registrations sees a registration made at Invoice Cloud after ours (issue 20) -----------


def listed(sub: str) -> dict[str, bool | None]:
    answer = invoke("register_user", http_event("GET", "/registrations", sub=sub))
    assert answer.status == 200, answer.body
    return {account["accountNumber"]: account["invoiceCloudRegistered"] for account in answer.json["accounts"]}


@pytest.fixture
def ic_views(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The accounts ViewCustomerRecord was asked about, in order."""
    asked: list[str] = []
    view = InvoiceCloudClient.view_customer_record

    def counted(self: InvoiceCloudClient, account_number: str, **kwargs: Any) -> Any:
        asked.append(account_number)
        return view(self, account_number, **kwargs)

    monkeypatch.setattr(InvoiceCloudClient, "view_customer_record", counted)
    return asked


def register_at_invoice_cloud(stack: Stack, number: str, value: str) -> None:
    """The payer registers on Invoice Cloud's customer portal page (the simulator's form)."""
    form = {"account_number": number, "registration_value": value, "login_email": "payer@example.com"}
    answer = Client(stack.simulator).post("/portal/", data=form)
    assert answer.status_code == 200 and "You are registered" in answer.get_data(as_text=True)


def stored_registration(stack: Stack, sub: str, number: str) -> Any:
    (link,) = (item for item in table_items(stack, f"USER#{sub}") if item["SK"] == f"ACCOUNT#{number}")
    return link.get("invoiceCloudRegistered")


def test_a_registration_made_at_invoice_cloud_after_ours_is_listed_and_logged_once(
    accounts: Stack, now: list[datetime], ic_views: list[str]
) -> None:
    register("carol", ("M-1", "M1-REG"), ("R-1", "R1-REG"))  # M-1's record created (with its value)
    by_registration = [("M-1", "IC_RECORD_CREATED"), ("R-1", "IC_REGISTRATION_SEEN")]
    assert ic_events(accounts) == by_registration
    assert listed("carol") == {"M-1": False, "R-1": True}  # just asked: not asked again
    register_at_invoice_cloud(accounts, "M-1", "M1-REG")
    ic_views.clear()
    assert listed("carol") == {"M-1": False, "R-1": True}  # within the interval: what we knew
    assert ic_views == []
    now[0] = NOV_25 + timedelta(seconds=60)
    assert listed("carol") == {"M-1": True, "R-1": True}
    assert ic_views == ["M-1"]  # only the link not seen registered
    assert stored_registration(accounts, "carol", "M-1") is True
    assert ic_events(accounts) == sorted([*by_registration, ("M-1", "IC_REGISTRATION_SEEN")])
    # Seen registered, never asked again by a listing
    now[0] = NOV_25 + timedelta(hours=1)
    assert listed("carol") == {"M-1": True, "R-1": True}
    assert ic_views == ["M-1"]
    assert ic_events(accounts) == sorted([*by_registration, ("M-1", "IC_REGISTRATION_SEEN")])
    # ... and the day's file tells it
    _, data = export(accounts, now, AFTER_NOV_25)
    assert [row[1:3] for row in rows_of(data)[1:] if row[2].startswith("IC_")] == [
        ["M-1", "IC_RECORD_CREATED"], ["R-1", "IC_REGISTRATION_SEEN"], ["M-1", "IC_REGISTRATION_SEEN"],
    ]  # fmt: skip


def test_another_users_listing_logs_nothing_twice(accounts: Stack, now: list[datetime]) -> None:
    register("carol", ("U-1", "U1-REG"))
    register("dave", ("U-1", "U1-REG"))
    accounts.simulator.put_customer_record(CustomerRecord("U-1", registered=True))
    now[0] = NOV_25 + timedelta(minutes=5)
    assert listed("carol") == {"U-1": True}
    assert listed("dave") == {"U-1": True}
    assert ic_events(accounts) == [("U-1", "IC_REGISTRATION_SEEN")]


@pytest.mark.parametrize("fault", ["503", "500", "malformed"])
def test_invoice_cloud_failing_keeps_what_was_known_and_says_unknown(
    accounts: Stack, now: list[datetime], fault: str
) -> None:
    register("carol", ("U-1", "U1-REG"))
    accounts.simulator.put_customer_record(CustomerRecord("U-1", registered=True))
    accounts.simulator.update_config({"customerApiFault": fault})
    now[0] = NOV_25 + timedelta(minutes=5)
    assert listed("carol") == {"U-1": None}  # 200: unknown, never a 5xx
    assert stored_registration(accounts, "carol", "U-1") is False
    assert ic_events(accounts) == []
    accounts.simulator.update_config({"customerApiFault": None})
    assert listed("carol") == {"U-1": True}  # an unanswered check is asked again at once
    assert ic_events(accounts) == [("U-1", "IC_REGISTRATION_SEEN")]


def test_a_slow_invoice_cloud_is_unknown_within_the_budget(
    accounts: Stack, now: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    register("carol", ("U-1", "U1-REG"), ("M-1", "M1-REG"))
    monkeypatch.setenv("REGISTRATION_IC_BUDGET_SECONDS", "0.5")
    caches.reset()
    accounts.simulator.update_config({"customerApiDelaySeconds": 2})
    now[0] = NOV_25 + timedelta(minutes=5)
    began = time.monotonic()
    assert listed("carol") == {"U-1": None, "M-1": None}
    assert time.monotonic() - began < 1.8
