"""The simulator's daily payment file (``/_sim/payment-files``) and the biller status check.

The file is read back the way the backend will read it: through the format file's own column names,
dialect and kind codes, never names written here, so that these tests still hold when the format
file changes. Same style as ``test_simulator_features.py``: over real HTTP, with a clock frozen at
2026-11-25 19:15:02 UTC that a test moves forward.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from avocette.formats import load_format
from werkzeug.test import Client

from sandbox.invoicecloud import AdjustableClock, InvoiceCloudSimulator
from sandbox.invoicecloud import payment_file_format as file_format_module
from sandbox.serving import RunningServer, start_server
from tests.integration.test_simulator import (
    API_KEY,
    BILLER_GUID,
    BILLER_NAME,
    WEB_SERVICE_KEY,
    PostbackReceiver,
    SimClient,
    cpv2_request,
)

FROZEN_AT = datetime(2026, 11, 25, 19, 15, 2, tzinfo=UTC)
DAY = "2026-11-25"
KEY = f"invoicecloud/{DAY}.csv"
BUCKET = "sim-inbound"
FORMAT = load_format("invoicecloud-payments-v1")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def module_clock() -> AdjustableClock:
    return AdjustableClock(start=FROZEN_AT)


@pytest.fixture
def clock(module_clock: AdjustableClock) -> Iterator[AdjustableClock]:
    module_clock.reset()
    yield module_clock
    module_clock.reset()


@pytest.fixture(scope="module")
def module_sunk() -> list[tuple[str, bytes]]:
    return []


@pytest.fixture
def sunk(module_sunk: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Every (key, bytes) the simulator gave its sink during the test."""
    module_sunk.clear()
    return module_sunk


@pytest.fixture(scope="module")
def simulator(
    module_clock: AdjustableClock, module_sunk: list[tuple[str, bytes]]
) -> Iterator[tuple[InvoiceCloudSimulator, RunningServer]]:
    def sink(key: str, data: bytes) -> tuple[str, str]:
        module_sunk.append((key, data))
        return BUCKET, key

    sim = InvoiceCloudSimulator(
        api_key=API_KEY,
        biller_guid=BILLER_GUID,
        web_service_key=WEB_SERVICE_KEY,
        biller_name=BILLER_NAME,
        clock=module_clock,
        payment_file_sink=sink,
    )
    server = start_server(sim, 0, name="ic-files")
    sim.base_url = server.url
    yield sim, server
    sim.reset()
    server.stop()


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[PostbackReceiver]:
    receiver = PostbackReceiver()
    receiver.server = start_server(receiver, 0, name="postbacks-files")
    yield receiver
    receiver.server.stop()


@pytest.fixture
def receiver(module_receiver: PostbackReceiver) -> PostbackReceiver:
    module_receiver.clear()
    return module_receiver


@pytest.fixture
def ic(
    simulator: tuple[InvoiceCloudSimulator, RunningServer],
    clock: AdjustableClock,
    sunk: list[tuple[str, bytes]],
    receiver: PostbackReceiver,
) -> Iterator[SimClient]:
    sim, server = simulator
    sim.reset()
    client = SimClient(server.url)
    assert client.configure(postbackRetryDelaySeconds=0.05).status_code == 200
    yield client
    sim.reset()


# --------------------------------------------------------------------------- helpers


def request_body(receiver: PostbackReceiver, reference: str = "pay-1", *, accounts: int = 2) -> dict[str, Any]:
    """The usual request (10.00 + 25.50 on ACCT-1001, 5.25 on ACCT-1002; card fees 1.00, ACH 0.50),
    its invoices part-payable, posting back to the receiver."""
    body = cpv2_request(receiver.postback_url, BillerReference=reference)
    body["Customers"] = body["Customers"][:accounts]
    for customer in body["Customers"]:
        for invoice in customer["Invoices"]:
            invoice["AllowPartialPayments"] = True
    return body


def pay(ic: SimClient, body: dict[str, Any], **completion: Any) -> dict[str, Any]:
    """Open a session and complete it (approved by default); the attempt as the control API shows it."""
    session_id = ic.create_session(body)
    response = ic.complete(session_id, **{"outcome": "approve", **completion})
    assert response.status_code == 200, response.text
    return dict(response.json()["attempt"])


def write_file(ic: SimClient, **body: Any) -> requests.Response:
    return requests.post(f"{ic.url}/_sim/payment-files", json=body, timeout=10)


def written(ic: SimClient, **body: Any) -> list[dict[str, str]]:
    response = write_file(ic, **body)
    assert response.status_code == 201, response.text
    return read_rows(fetch(ic, response.json()["key"]))


def fetch(ic: SimClient, key: str) -> bytes:
    response = requests.get(f"{ic.url}/_sim/payment-files/{key}", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    return response.content


def read_rows(data: bytes, fmt: dict[str, Any] = FORMAT) -> list[dict[str, str]]:
    """The file's rows by the format's field names (kind, amount, ...), read through its column names."""
    text = data.decode(fmt["encoding"])
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=fmt["delimiter"], quotechar=fmt["quotechar"])
    assert reader.fieldnames == list(fmt["columns"].values())
    return [{field: row[column] for field, column in fmt["columns"].items()} for row in reader]


def code(kind: str, fmt: dict[str, Any] = FORMAT) -> str:
    codes = fmt["kinds"][kind]
    return str(codes[0] if isinstance(codes, list) else codes)


def stamp(moment: datetime) -> str:
    return moment.strftime(FORMAT["dateFormat"])


def brief(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [(r["kind"], r["billerReference"], r["invoiceNumber"], r["amount"], r["fee"], r["reasonCode"]) for r in rows]


# --------------------------------------------------------------------------- what the file lists


def test_a_full_payment_of_two_invoices(
    ic: SimClient, receiver: PostbackReceiver, sunk: list[tuple[str, bytes]]
) -> None:
    # Given a card payment of both invoices of ACCT-1001
    attempt = pay(ic, request_body(receiver, accounts=1))
    # When the day's file is written
    response = write_file(ic)
    # Then it went to the sink under the day's key, and reads back the same
    assert response.status_code == 201
    assert response.json() == {"bucket": BUCKET, "key": KEY, "rows": 2}
    assert sunk == [(KEY, fetch(ic, KEY))]
    # And it has one PAYMENT row per invoice, the fee (without the amount) on the first only
    base = {
        "kind": code("PAYMENT"),
        "paymentGuid": attempt["paymentGuid"],
        "billerReference": "pay-1",
        "accountNumber": "ACCT-1001",
        "date": stamp(FROZEN_AT),
        "paymentTypeId": "1",
        "reasonCode": "",
    }
    assert read_rows(sunk[0][1]) == [
        {**base, "invoiceNumber": "INV-1001-1", "amount": "10.00", "fee": "2.00"},
        {**base, "invoiceNumber": "INV-1001-2", "amount": "25.50", "fee": ""},
    ]


def test_a_part_payment_lists_what_was_paid_on_each_invoice(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given a payment of 12.34 of INV-1001-2's 25.50, the other two invoices in full, by ACH
    attempt = pay(ic, request_body(receiver), method="ACH", amounts={"INV-1001-2": "12.34"})
    # Then the file lists the amounts paid, its PaymentTypeID as the postbacks send it
    rows = written(ic)
    assert [(r["accountNumber"], r["invoiceNumber"], r["amount"], r["fee"]) for r in rows] == [
        ("ACCT-1001", "INV-1001-1", "10.00", "1.50"),
        ("ACCT-1001", "INV-1001-2", "12.34", ""),
        ("ACCT-1002", "INV-1002-1", "5.25", ""),
    ]
    assert {(r["paymentGuid"], r["paymentTypeId"]) for r in rows} == {(attempt["paymentGuid"], "2")}


def test_a_removed_invoice_is_not_listed(ic: SimClient, receiver: PostbackReceiver) -> None:
    pay(ic, request_body(receiver), removeInvoices=["INV-1001-2"])
    rows = written(ic)
    assert [(r["invoiceNumber"], r["amount"], r["fee"]) for r in rows] == [
        ("INV-1001-1", "10.00", "2.00"),
        ("INV-1002-1", "5.25", ""),
    ]


def test_declined_attempts_are_not_listed(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given a session declined once then approved, and another only declined
    body = request_body(receiver, accounts=1)
    session_id = ic.create_session(body)
    declined = ic.complete(session_id, outcome="decline").json()["attempt"]
    approved = ic.complete(session_id, outcome="approve").json()["attempt"]
    pay(ic, request_body(receiver, "pay-2"), outcome="decline")
    # Then the file lists the approved attempt only
    rows = written(ic)
    assert {r["paymentGuid"] for r in rows} == {approved["paymentGuid"]}
    assert declined["paymentGuid"] != approved["paymentGuid"]
    assert {r["billerReference"] for r in rows} == {"pay-1"}


def test_a_payment_whose_postbacks_were_dropped_is_listed(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given Invoice Cloud losing every postback
    assert ic.configure(dropPostbacks=True).status_code == 200
    attempt = pay(ic, request_body(receiver, accounts=1))
    # Then the backend never heard of the payment, but the file lists it
    assert receiver.wait_for(1, timeout=0.3) == []
    rows = written(ic)
    assert [(r["paymentGuid"], r["invoiceNumber"]) for r in rows] == [
        (attempt["paymentGuid"], "INV-1001-1"),
        (attempt["paymentGuid"], "INV-1001-2"),
    ]


def test_a_day_without_payments_has_the_header_only(ic: SimClient) -> None:
    response = write_file(ic, date="2026-01-01")
    assert response.json() == {"bucket": BUCKET, "key": "invoicecloud/2026-01-01.csv", "rows": 0}
    assert read_rows(fetch(ic, "invoicecloud/2026-01-01.csv")) == []


def test_the_day_boundary_is_utc_midnight(ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock) -> None:
    # Given one payment at 23:59:59 UTC and one a second later, on the next day
    clock.advance(datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC) - FROZEN_AT)
    late = pay(ic, request_body(receiver, "pay-late", accounts=1))
    clock.advance(timedelta(seconds=1))
    early = pay(ic, request_body(receiver, "pay-early", accounts=1))
    # Then each is in its own day's file only; the default day is today, by the clock
    today = written(ic)
    assert write_file(ic).json()["key"] == "invoicecloud/2026-11-26.csv"
    yesterday = written(ic, date=DAY)
    assert {(r["paymentGuid"], r["date"]) for r in yesterday} == {(late["paymentGuid"], "2026-11-25T23:59:59Z")}
    assert {(r["paymentGuid"], r["date"]) for r in today} == {(early["paymentGuid"], "2026-11-26T00:00:00Z")}


def test_rows_are_sorted_and_the_same_call_gives_the_same_bytes(
    ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock, sunk: list[tuple[str, bytes]]
) -> None:
    # Given three payments, two of them in the same second
    for reference in ("pay-b", "pay-a"):
        pay(ic, request_body(receiver, reference))
    clock.advance(timedelta(minutes=5))
    pay(ic, request_body(receiver, "pay-c", accounts=1))
    # When the file is written twice (the clock moving on between the calls)
    first = write_file(ic)
    clock.advance(timedelta(hours=1))
    second = write_file(ic)
    # Then both are byte-identical, under the same key
    assert first.json() == second.json() == {"bucket": BUCKET, "key": KEY, "rows": 8}
    assert [key for key, _ in sunk] == [KEY, KEY]
    assert sunk[0][1] == sunk[1][1] == fetch(ic, KEY)
    # And the rows go by time, then payment GUID, then invoice
    rows = read_rows(sunk[0][1])
    order = [(r["date"], r["paymentGuid"], r["invoiceNumber"]) for r in rows]
    assert order == sorted(order)
    assert [r["billerReference"] for r in rows][-2:] == ["pay-c", "pay-c"]


# --------------------------------------------------------------------------- reversals


@pytest.mark.parametrize("kind", ["VOID", "REFUND", "ACH_RETURN", "CHARGEBACK"])
def test_a_whole_payment_reversed(ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock, kind: str) -> None:
    # Given a payment of two invoices
    attempt = pay(ic, request_body(receiver, accounts=1))
    clock.advance(timedelta(hours=2))
    # When the file reverses all of it (by BillerReference, no amount)
    rows = written(ic, reversals=[{"billerReference": "pay-1", "kind": kind, "reasonCode": "R01"}])
    # Then one reversal row per invoice follows the payment's, each its whole amount, at the clock's now
    reversals = [r for r in rows if r["kind"] != code("PAYMENT")]
    assert [(r["kind"], r["invoiceNumber"], r["amount"], r["fee"], r["reasonCode"]) for r in reversals] == [
        (code(kind), "INV-1001-1", "10.00", "", "R01"),
        (code(kind), "INV-1001-2", "25.50", "", "R01"),
    ]
    expected = (attempt["paymentGuid"], "pay-1", "ACCT-1001", stamp(FROZEN_AT + timedelta(hours=2)), "1")
    assert {
        (r["paymentGuid"], r["billerReference"], r["accountNumber"], r["date"], r["paymentTypeId"]) for r in reversals
    } == {expected}
    assert len(rows) == 4


@pytest.mark.parametrize("kind", ["VOID", "REFUND", "ACH_RETURN", "CHARGEBACK"])
def test_part_of_one_invoice_reversed(ic: SimClient, receiver: PostbackReceiver, kind: str) -> None:
    # Given a payment of three invoices
    attempt = pay(ic, request_body(receiver))
    # When the file takes back 7.25 of INV-1001-2, named by GUID, without a reason code
    reversal = {"paymentGuid": attempt["paymentGuid"], "kind": kind, "invoiceNumber": "INV-1001-2", "amount": "7.25"}
    rows = written(ic, reversals=[reversal])
    # Then one row, the amount positive, right after the invoice's payment row
    assert brief(rows) == [
        (code("PAYMENT"), "pay-1", "INV-1001-1", "10.00", "3.00", ""),
        (code("PAYMENT"), "pay-1", "INV-1001-2", "25.50", "", ""),
        (code(kind), "pay-1", "INV-1001-2", "7.25", "", ""),
        (code("PAYMENT"), "pay-1", "INV-1002-1", "5.25", "", ""),
    ]


def test_one_invoice_reversed_in_full_without_an_amount(ic: SimClient, receiver: PostbackReceiver) -> None:
    pay(ic, request_body(receiver), amounts={"INV-1002-1": "2.00"})
    rows = written(ic, reversals=[{"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1002-1"}])
    assert brief(rows)[-1] == (code("VOID"), "pay-1", "INV-1002-1", "2.00", "", "")


def test_a_late_chargeback_goes_into_the_file_of_its_day(
    ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock, sunk: list[tuple[str, bytes]]
) -> None:
    # Given a payment on the 25th, and its file
    pay(ic, request_body(receiver, accounts=1))
    before = fetch(ic, write_file(ic).json()["key"])
    # When a chargeback comes three weeks later
    clock.advance(timedelta(weeks=3))
    chargeback = {"billerReference": "pay-1", "kind": "CHARGEBACK", "invoiceNumber": "INV-1001-1", "reasonCode": "4837"}
    response = write_file(ic, reversals=[chargeback])
    # Then it is in that day's file, alone; the payment's day is unchanged
    assert response.json() == {"bucket": BUCKET, "key": "invoicecloud/2026-12-16.csv", "rows": 1}
    chargeback_file = fetch(ic, "invoicecloud/2026-12-16.csv")
    [row] = read_rows(chargeback_file)
    assert (row["kind"], row["amount"], row["date"], row["reasonCode"]) == (
        code("CHARGEBACK"),
        "10.00",
        "2026-12-16T19:15:02Z",
        "4837",
    )
    assert written(ic, date=DAY) == read_rows(before)
    # And writing the chargeback's day again keeps the chargeback (remembered), byte for byte
    again = write_file(ic)
    assert again.json()["rows"] == 1 and sunk[-1] == ("invoicecloud/2026-12-16.csv", chargeback_file)


def test_a_chargeback_reversal_gives_back_what_the_chargeback_took_and_no_more(
    ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock
) -> None:
    # Given 4.00 of INV-1001-1 charged back, in the file of its day
    pay(ic, request_body(receiver, accounts=1))
    chargeback = {"billerReference": "pay-1", "kind": "CHARGEBACK", "invoiceNumber": "INV-1001-1", "amount": "4.00"}
    assert write_file(ic, reversals=[chargeback]).status_code == 201
    clock.advance(timedelta(days=1))

    def win(**fields: Any) -> requests.Response:
        return write_file(ic, reversals=[{"billerReference": "pay-1", "kind": "CHARGEBACK_REVERSAL", **fields}])

    # Then a reversal of it may give back 4.00, not 4.01, and nothing on an invoice not charged back
    refused = win(invoiceNumber="INV-1001-1", amount="4.01")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_amount")
    assert "only 4.00" in refused.json()["message"]
    assert win(invoiceNumber="INV-1001-2").json()["error"] == "invalid_amount"
    # And without an amount it gives back the whole chargeback, with its reason code
    rows = written(ic, reversals=[{"billerReference": "pay-1", "kind": "CHARGEBACK_REVERSAL", "reasonCode": "WON"}])
    assert brief(rows) == [(code("CHARGEBACK_REVERSAL"), "pay-1", "INV-1001-1", "4.00", "", "WON")]
    # And once given back, there is nothing more to give back, while the whole invoice may be taken again
    clock.advance(timedelta(days=1))
    assert win().json()["error"] == "invalid_amount"
    void = {"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1001-1", "amount": "10.00"}
    assert write_file(ic, reversals=[void]).status_code == 201


def test_reversals_cannot_take_back_more_than_was_paid_across_files(
    ic: SimClient, receiver: PostbackReceiver, clock: AdjustableClock
) -> None:
    # Given 5.00 of INV-1001-1's 10.00 voided in one file
    pay(ic, request_body(receiver, accounts=1))

    def reverse(**fields: Any) -> requests.Response:
        return write_file(ic, reversals=[{"billerReference": "pay-1", "kind": "CHARGEBACK", **fields}])

    assert reverse(invoiceNumber="INV-1001-1", amount="5.00").status_code == 201
    clock.advance(timedelta(days=1))
    # Then the next day's file may take back 5.00 more, not 5.01, nor the whole payment
    refused = reverse(invoiceNumber="INV-1001-1", amount="5.01")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_amount")
    assert "only 5.00" in refused.json()["message"]
    assert reverse().json()["error"] == "invalid_amount"
    assert reverse(invoiceNumber="INV-1001-1").json()["error"] == "invalid_amount"
    assert reverse(invoiceNumber="INV-1001-1", amount=5).status_code == 201
    assert reverse(invoiceNumber="INV-1001-1", amount="0.01").json()["error"] == "invalid_amount"
    # And two reversals in one call count together
    two = [{"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1001-2", "amount": "20.00"}] * 2
    assert write_file(ic, reversals=two).json()["error"] == "invalid_amount"
    assert [r["kind"] for r in written(ic)] == [code("CHARGEBACK")]


@pytest.mark.parametrize(
    ("reversal", "error"),
    [
        ({"billerReference": "pay-nobody", "kind": "VOID"}, "unknown_payment"),
        ({"paymentGuid": "00000000-0000-0000-0000-000000000000", "kind": "VOID"}, "unknown_payment"),
        ({"billerReference": "pay-declined", "kind": "VOID"}, "unknown_payment"),
        ({"billerReference": "pay-1", "kind": "RETURNED_CHECK"}, "invalid_kind"),
        ({"billerReference": "pay-1", "kind": "PAYMENT"}, "invalid_kind"),
        ({"billerReference": "pay-1"}, "invalid_kind"),
        (
            {"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1001-1", "amount": "10.01"},
            "invalid_amount",
        ),
        ({"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1001-1", "amount": "0"}, "invalid_amount"),
        (
            {"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1001-1", "amount": "1.001"},
            "invalid_amount",
        ),
        ({"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1001-1", "amount": -1}, "invalid_amount"),
        ({"billerReference": "pay-1", "kind": "VOID", "amount": "10.00"}, "invalid_amount"),
        ({"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-1001-2"}, "unknown_invoice"),
        ({"billerReference": "pay-1", "kind": "VOID", "invoiceNumber": "INV-9"}, "unknown_invoice"),
        ({"kind": "VOID"}, "invalid_request"),
        ({"billerReference": "pay-1", "kind": "VOID", "refund": True}, "invalid_request"),
        ({"billerReference": 1, "kind": "VOID"}, "invalid_request"),
    ],
)
def test_a_refused_reversal_writes_nothing(
    ic: SimClient, receiver: PostbackReceiver, sunk: list[tuple[str, bytes]], reversal: dict[str, Any], error: str
) -> None:
    # Given a payment of INV-1001-1 (10.00) and INV-1002-1 (5.25), INV-1001-2 removed; and a declined one
    pay(ic, request_body(receiver), removeInvoices=["INV-1001-2"])
    pay(ic, request_body(receiver, "pay-declined"), outcome="decline")
    # When a file is asked with a reversal that does not fit
    response = write_file(ic, reversals=[{"billerReference": "pay-1", "kind": "VOID"}, reversal])
    # Then it is refused, naming why; no file was written and nothing was reversed
    assert (response.status_code, response.json()["error"]) == (400, error), response.text
    assert sunk == []
    assert requests.get(f"{ic.url}/_sim/payment-files/{KEY}", timeout=10).status_code == 404
    assert {r["kind"] for r in written(ic)} == {code("PAYMENT")}


def test_a_whole_payment_is_its_amount_without_the_fee(ic: SimClient, receiver: PostbackReceiver) -> None:
    pay(ic, request_body(receiver, accounts=1))
    refused = write_file(ic, reversals=[{"billerReference": "pay-1", "kind": "VOID", "amount": "37.50"}])
    assert refused.json()["error"] == "invalid_amount"
    rows = written(ic, reversals=[{"billerReference": "pay-1", "kind": "VOID", "amount": "35.50"}])
    assert [r["amount"] for r in rows if r["kind"] == code("VOID")] == ["10.00", "25.50"]


def test_a_reference_shared_by_two_payments_needs_the_guid(ic: SimClient, receiver: PostbackReceiver) -> None:
    # Given two approved payments with the same BillerReference
    pay(ic, request_body(receiver, accounts=1))
    second = pay(ic, request_body(receiver, accounts=1))
    # Then the reference alone is refused, the GUID (with or without the reference) picks one
    ambiguous = write_file(ic, reversals=[{"billerReference": "pay-1", "kind": "VOID"}])
    assert ambiguous.json()["error"] == "ambiguous_payment"
    reversal = {"billerReference": "pay-1", "paymentGuid": second["paymentGuid"], "kind": "VOID"}
    rows = written(ic, reversals=[reversal])
    assert {r["paymentGuid"] for r in rows if r["kind"] == code("VOID")} == {second["paymentGuid"]}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"date": "2026-11-31"}, "invalid_date"),
        ({"date": "20261125"}, "invalid_date"),
        ({"date": 20261125}, "invalid_date"),
        ({"format": "invoicecloud-payments-v0"}, "unknown_format"),
        ({"format": "../formats/invoicecloud-payments-v1"}, "unknown_format"),
        ({"format": "biller-export-v1"}, "invalid_format"),
        ({"reversals": {"billerReference": "pay-1"}}, "invalid_request"),
        ({"reversals": ["pay-1"]}, "invalid_request"),
        ({"day": DAY}, "invalid_request"),
    ],
)
def test_bad_file_requests_are_refused(ic: SimClient, body: dict[str, Any], error: str) -> None:
    response = write_file(ic, **body)
    assert (response.status_code, response.json()["error"]) == (400, error), response.text


def test_an_unknown_key_is_not_found(ic: SimClient) -> None:
    response = requests.get(f"{ic.url}/_sim/payment-files/invoicecloud/2026-11-24.csv", timeout=10)
    assert (response.status_code, response.json()["error"]) == (404, "file_not_found")


def test_reset_forgets_files_and_reversals(
    ic: SimClient, receiver: PostbackReceiver, simulator: tuple[InvoiceCloudSimulator, RunningServer]
) -> None:
    # Given a payment reversed in the next day's file
    pay(ic, request_body(receiver, accounts=1))
    assert (
        write_file(ic, date="2026-11-26", reversals=[{"billerReference": "pay-1", "kind": "VOID"}]).status_code == 201
    )
    # When the simulator is reset
    assert requests.post(f"{ic.url}/_sim/reset", timeout=10).status_code == 200
    # Then the file is gone, and the day written again has no reversal left
    assert requests.get(f"{ic.url}/_sim/payment-files/invoicecloud/2026-11-26.csv", timeout=10).status_code == 404
    assert write_file(ic, date="2026-11-26").json()["rows"] == 0
    stored = simulator[0].payment_file("invoicecloud/2026-11-26.csv")
    assert stored is not None and read_rows(stored) == []


# --------------------------------------------------------------------------- the layout comes from the format


def test_the_layout_is_the_format_files(
    ic: SimClient, receiver: PostbackReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given another format: other names, order, delimiter and codes, a column the simulator does not know
    other = {
        **FORMAT,
        "format": "other-v9",
        "encoding": "utf-8",
        "delimiter": ";",
        "columns": {
            "date": "Posted",
            "kind": "Type",
            "amount": "Amt",
            "invoiceNumber": "Bill",
            "paymentGuid": "Id",
            "billerReference": "Ref",
            "branch": "Branch",
        },
        "kinds": {**FORMAT["kinds"], "PAYMENT": ["PMT", "PAYMENT"], "VOID": ["VD"]},
        "dateFormat": "%d/%m/%Y %H:%M",
        "keyPattern": r"^invoicecloud/(?P<day>\d{4}-\d{2}-\d{2})\.csv$",
    }
    monkeypatch.setattr(
        file_format_module, "load_format", lambda name: other if name == "other-v9" else load_format(name)
    )
    pay(ic, request_body(receiver, accounts=1))
    # When a file is written in it
    rows = written_in(ic, other, format="other-v9", reversals=[{"billerReference": "pay-1", "kind": "VOID"}])
    # Then the simulator followed it, column for column
    assert [(r["kind"], r["invoiceNumber"], r["amount"], r["date"], r["branch"]) for r in rows] == [
        ("PMT", "INV-1001-1", "10.00", "25/11/2026 19:15", ""),
        ("VD", "INV-1001-1", "10.00", "25/11/2026 19:15", ""),
        ("PMT", "INV-1001-2", "25.50", "25/11/2026 19:15", ""),
        ("VD", "INV-1001-2", "25.50", "25/11/2026 19:15", ""),
    ]
    # And a kind the format has no code for is refused
    del other["kinds"]["CHARGEBACK"]
    refused = write_file(ic, format="other-v9", reversals=[{"billerReference": "pay-1", "kind": "CHARGEBACK"}])
    assert refused.json()["error"] == "invalid_kind"


def written_in(ic: SimClient, fmt: dict[str, Any], **body: Any) -> list[dict[str, str]]:
    response = write_file(ic, **body)
    assert response.status_code == 201, response.text
    return read_rows(fetch(ic, response.json()["key"]), fmt)


def test_without_a_sink_the_file_stays_in_memory() -> None:
    # Given a simulator built without a sink, and a payment on it
    sim = InvoiceCloudSimulator(
        api_key=API_KEY, biller_guid=BILLER_GUID, web_service_key=WEB_SERVICE_KEY, clock=AdjustableClock(FROZEN_AT)
    )
    sim.update_config({"dropPostbacks": True})
    client = Client(sim)
    opened = client.post("/cloudpaymentsapi/v2", json=cpv2_request(), auth=(API_KEY, ""))
    assert opened.json is not None, opened.text
    session_id = opened.json["Data"]["CloudPaymentURL"].rsplit("/", 1)[1]
    assert client.post(f"/_sim/sessions/{session_id}/complete", json={"outcome": "approve"}).status_code == 200
    # When the day's file is written
    response = client.post("/_sim/payment-files", json={})
    # Then it has no bucket, and is served as CSV from memory
    assert (response.status_code, response.json) == (201, {"bucket": None, "key": KEY, "rows": 3})
    served = client.get(f"/_sim/payment-files/{KEY}")
    assert served.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert served.data == sim.payment_file(KEY)
    assert served.data.startswith("\ufeff".encode())  # utf-8-sig, as the format says
    assert len(read_rows(served.data)) == 3


# --------------------------------------------------------------------------- biller status


def _basic(raw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


@pytest.mark.parametrize("raw", [API_KEY, f"{API_KEY}:"])
def test_biller_status_answers_active_to_our_key(ic: SimClient, raw: str) -> None:
    response = requests.get(f"{ic.url}/api/v1/biller/status", headers=_basic(raw), timeout=10)
    assert (response.status_code, response.text) == (200, "Active")
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("headers", [{}, _basic("wrong-key"), _basic(f"{API_KEY}:password"), _basic(f":{API_KEY}")])
def test_biller_status_refuses_anything_else(ic: SimClient, headers: dict[str, str]) -> None:
    response = requests.get(f"{ic.url}/api/v1/biller/status", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_biller_status_is_configurable(ic: SimClient) -> None:
    assert ic.configure(billerStatus="Inactive").status_code == 200
    response = requests.get(f"{ic.url}/api/v1/biller/status", headers=_basic(API_KEY), timeout=10)
    assert (response.status_code, response.text) == (200, "Inactive")
    assert ic.configure(billerStatus=False).json()["error"] == "invalid_config"
    requests.post(f"{ic.url}/_sim/reset", timeout=10)
    assert requests.get(f"{ic.url}/api/v1/biller/status", headers=_basic(API_KEY), timeout=10).text == "Active"
