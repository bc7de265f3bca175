"""The balance refresh's answer as a format file says (DESIGN §3, §4a): the shipped JSON format, an XML
one, the rules a format file must keep, and the answer read back by the simulator's own reader of the
same file (written apart, so that the two meet only through the file)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from avocette.domain.refresh import AccountBalances, InvoiceBalance
from avocette.formats import load_format
from avocette.invoicecloud.refresh_format import FormatError, RefreshFormat, get_refresh_format
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sandbox.invoicecloud.refresh_format import AnswerError, RefreshAnswerFormat

AS_OF = datetime(2026, 11, 25, 19, 11, tzinfo=UTC)

XML_FORMAT: dict[str, Any] = {
    "format": "invoicecloud-refresh-xml",
    "syntax": "xml",
    "mediaType": "application/xml",
    "dateFormat": "%Y-%m-%d",
    "body": {
        "Account": {
            "Number": "$accountNumber",
            "Version": "1",
            "Invoices": {
                "Invoice": [
                    {
                        "Number": "$invoiceNumber",
                        "Due": "$dueDate",
                        "Balance": "$balanceDue",
                        "Minimum": {"Amount": "$minimumAmountDue"},
                        "Paid": "$paidInFull",
                    }
                ]
            },
            "Total": "$totalDue",
        }
    },
}


def invoice(number: str, due_cents: int, *, minimum: int | None = None, billed: int | None = None) -> InvoiceBalance:
    return InvoiceBalance(
        invoice_number=number,
        invoice_date=date(2026, 10, 28),
        due_date=date(2026, 12, 15),
        billed_cents=due_cents if billed is None else billed,
        balance_due_cents=due_cents,
        minimum_amount_due_cents=minimum,
        allow_partial_payments=minimum is not None,
    )


BALANCES = AccountBalances(
    account_number="ACCT-1001",
    as_of=AS_OF,
    total_due_cents=4215,
    invoices=(invoice("INV-1001-1", 0, billed=8420), invoice("INV-1001-2", 4215, minimum=1000)),
)


def test_the_shipped_format_writes_what_its_file_says() -> None:
    answer = json.loads(get_refresh_format("invoicecloud-refresh-v1").render(BALANCES))
    assert answer == {
        "AccountNumber": "ACCT-1001",
        "AsOf": "2026-11-25T19:11:00Z",
        "TotalDue": "42.15",
        "Invoices": [
            {
                "InvoiceNumber": "INV-1001-1",
                "InvoiceDate": "10/28/2026",
                "DueDate": "12/15/2026",
                "BalanceDue": "0.00",
                "AllowPartialPayments": False,
            },
            {
                "InvoiceNumber": "INV-1001-2",
                "InvoiceDate": "10/28/2026",
                "DueDate": "12/15/2026",
                "BalanceDue": "42.15",
                "MinimumAmountDue": "10.00",
                "AllowPartialPayments": True,
            },
        ],
    }


def test_the_shipped_answer_matches_the_schema_the_openapi_document_shows() -> None:
    shipped = get_refresh_format("invoicecloud-refresh-v1")
    schema = shipped.json_schema()
    jsonschema.validate(json.loads(shipped.render(BALANCES)), schema)
    assert schema["required"] == ["AccountNumber", "AsOf", "TotalDue", "Invoices"]
    assert schema["properties"]["Invoices"]["items"]["required"] == [
        "InvoiceNumber",
        "BalanceDue",
        "AllowPartialPayments",
    ]


def test_amounts_as_json_numbers_keep_their_exact_decimals() -> None:
    spec = {**load_format("invoicecloud-refresh-v1"), "amounts": "number"}
    balances = AccountBalances("A", AS_OF, 10, (invoice("I", 10), invoice("J", 99999999)))
    text = RefreshFormat.model_validate(spec).render(balances).decode()
    assert '"TotalDue":0.10' in text and '"BalanceDue":999999.99' in text
    read = json.loads(text, parse_float=Decimal)
    assert [row["BalanceDue"] for row in read["Invoices"]] == [Decimal("0.10"), Decimal("999999.99")]


def test_an_xml_format_nests_repeats_and_escapes() -> None:
    balances = AccountBalances("A&B <1>", AS_OF, 4215, (invoice("I-1", 4215, minimum=1000), invoice("I-2", 0)))
    text = RefreshFormat.model_validate(XML_FORMAT).render(balances).decode()
    assert text == (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<Account><Number>A&amp;B &lt;1&gt;</Number><Version>1</Version><Invoices>"
        "<Invoice><Number>I-1</Number><Due>2026-12-15</Due><Balance>42.15</Balance>"
        "<Minimum><Amount>10.00</Amount></Minimum><Paid>false</Paid></Invoice>"
        "<Invoice><Number>I-2</Number><Due>2026-12-15</Due><Balance>0.00</Balance><Paid>true</Paid></Invoice>"
        "</Invoices><Total>42.15</Total></Account>"
    )


def test_an_account_without_invoices_still_has_its_list() -> None:
    empty = AccountBalances("A", AS_OF, 0, ())
    assert json.loads(get_refresh_format("invoicecloud-refresh-v1").render(empty))["Invoices"] == []
    assert b"<Invoices></Invoices>" in RefreshFormat.model_validate(XML_FORMAT).render(empty)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"body": {"A": "$accountNumber"}}, "exactly one list"),
        ({"body": {"A": [{"N": "$invoiceNumber"}], "B": [{"N": "$invoiceNumber"}]}}, "exactly one list"),
        ({"body": {"A": [{"N": "$invoiceNumber"}, {"N": "$dueDate"}]}}, "one object"),
        ({"body": {"N": "$invoiceNumber", "A": [{"M": "$balanceDue"}]}}, "not a field here"),
        ({"body": {"A": [{"N": "$nope"}]}}, "not a field here"),
        ({"body": {"A": [{"N": 1.5}]}}, "a literal"),
        ({"body": {"A": [{"N": None}]}}, "a literal"),
        ({"body": {"A": [{"N": {}}]}}, "is empty"),
        ({"syntax": "yaml"}, "syntax"),
        ({"mediaType": "json"}, "mediaType"),
        ({"dateFormat": "%Q"}, "strftime"),
        ({"dateFormat": "%m/%d"}, "reads back"),
        ({"timestampFormat": "%Y-%m-%d"}, "reads back"),
        ({"amounts": "float"}, "amounts"),
        ({"syntax": "xml", "body": {"A": {"N": "$accountNumber"}, "B": {"L": [{"N": "$invoiceNumber"}]}}}, "one root"),
        ({"syntax": "xml", "body": {"A": [{"N": "$invoiceNumber"}]}}, "one root"),
        ({"syntax": "xml", "body": {"A": {"1N": "$accountNumber", "L": [{"N": "$invoiceNumber"}]}}}, "XML element"),
    ],
)
def test_a_format_that_breaks_the_rules_is_refused_whole(change: dict[str, Any], complaint: str) -> None:
    spec = {**load_format("invoicecloud-refresh-v1"), **change}
    with pytest.raises(ValidationError, match=complaint):
        RefreshFormat.model_validate(spec)


def test_an_unknown_or_unsafe_format_name_is_a_format_error() -> None:
    for name in ("no-such-format", "../formats/invoicecloud-refresh-v1", ""):
        with pytest.raises(FormatError):
            get_refresh_format(name)


# ---- what Invoice Cloud (the simulator) reads back ---------------------------------------------------

amounts = st.integers(min_value=0, max_value=100_000_000)
numbers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/ -]{0,20}[A-Za-z0-9]", fullmatch=True)


@st.composite
def balances(draw: st.DrawFn) -> AccountBalances:
    rows = draw(st.lists(st.tuples(numbers, amounts, st.booleans()), max_size=6, unique_by=lambda row: row[0]))
    invoices = tuple(
        InvoiceBalance(
            invoice_number=number,
            invoice_date=None,
            due_date=date(2026, 12, 15) if dated else None,
            billed_cents=due,
            balance_due_cents=due,
            minimum_amount_due_cents=None,
            allow_partial_payments=False,
        )
        for number, due, dated in rows
    )
    return AccountBalances(draw(numbers), AS_OF, sum(row.balance_due_cents for row in invoices), invoices)


@pytest.mark.parametrize(
    "spec",
    [
        load_format("invoicecloud-refresh-v1"),
        {**load_format("invoicecloud-refresh-v1"), "amounts": "number"},
        XML_FORMAT,
    ],
    ids=["shipped", "numbers", "xml"],
)
@settings(max_examples=60, deadline=None)
@given(drawn=balances())
def test_invoice_cloud_reads_back_every_balance_to_the_cent(spec: dict[str, Any], drawn: AccountBalances) -> None:
    data = RefreshFormat.model_validate(spec).render(drawn)
    read = RefreshAnswerFormat.from_spec(spec).read(data)
    assert read.account_number == drawn.account_number
    assert [(row.invoice_number, row.due_date, row.balance_due) for row in read.invoices] == [
        (row.invoice_number, row.due_date, Decimal(row.balance_due_cents) / 100) for row in drawn.invoices
    ]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"not json", "not JSON"),
        (b'{"Invoices": {}}', "not a list"),
        (b'{"Invoices": [{"BalanceDue": "1.00"}]}', "no invoice number"),
        (b'{"Invoices": [{"InvoiceNumber": "I"}]}', "no balance due"),
        (b'{"Invoices": [{"InvoiceNumber": "I", "BalanceDue": "1.001"}]}', "not an amount of"),
        (b'{"Invoices": [{"InvoiceNumber": "I", "BalanceDue": "-1.00"}]}', "not an amount of"),
        (b'{"Invoices": [{"InvoiceNumber": "I", "BalanceDue": "1e40"}]}', "not an amount of"),
        (b'{"Invoices": [{"InvoiceNumber": "I", "BalanceDue": "lots"}]}', "not an amount"),
        (b'{"Invoices": [{"InvoiceNumber": "I", "BalanceDue": "1.00", "DueDate": "2026-12-15"}]}', "due date"),
    ],
)
def test_invoice_cloud_refuses_an_answer_it_cannot_read(body: bytes, complaint: str) -> None:
    with pytest.raises(AnswerError, match=complaint):
        RefreshAnswerFormat.load("invoicecloud-refresh-v1").read(body)


def test_invoice_cloud_refuses_hostile_xml() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bb"><!ENTITY c "&b;&b;">]><Account>&c;</Account>'
    with pytest.raises(AnswerError, match="not XML"):
        RefreshAnswerFormat.from_spec(XML_FORMAT).read(bomb)
