"""Bill presentment's pure rules (DESIGN §6g): which names a billing file may give a bill's PDF, the
S3 key made of one, the file name a browser saves it under, signed statement links, the billing
file's optional StatementFile column and the link's place in the CPV2 request. No AWS."""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, date, datetime, timedelta

import pytest
from avocette.biller.billing_file import (
    COLUMNS,
    HeaderError,
    ParsedRow,
    check_header,
    parse_row,
    shape_problem,
)
from avocette.domain.billing import Account, Invoice, InvoiceRef
from avocette.domain.statements import (
    STATEMENT_NAME_RULE,
    STATEMENTS_PREFIX,
    StatementLink,
    download_name,
    statement_key,
    statement_name,
)
from avocette.errors import ConfigurationError
from avocette.invoicecloud import cpv2
from avocette.security import KeyRing
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_billing_file import cells
from tests.unit.test_cpv2 import template_options

RING = KeyRing.from_secret({"current": "2", "keys": {"1": "a" * 32, "2": "b" * 32}})
REF = InvoiceRef(account_number="ACCT-1001", invoice_number="INV-1001-1")
LATER = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


# ---- the names a billing file may give ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("INV-1001-1.pdf", "INV-1001-1.pdf"),
        ("2026-11/INV-1001-1.pdf", "2026-11/INV-1001-1.pdf"),
        ("  2026-11/acct_7/bill.v2.PDF ", "2026-11/acct_7/bill.v2.PDF"),
        ("statements/2026-11/INV-1001-1.pdf", "2026-11/INV-1001-1.pdf"),  # the prefix written out
        ("statements/statements/x.pdf", "statements/x.pdf"),  # only once: the second is a folder
        ("a..b.pdf", "a..b.pdf"),  # dots inside a part are no path step
    ],
)
def test_a_statement_name_is_its_key_under_the_prefix(text: str, name: str) -> None:
    assert statement_name(text) == name
    assert statement_key(name) == STATEMENTS_PREFIX + name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "statements/",
        "../billing/20261101T060000Z-full.csv",
        "../x.pdf",
        "statements/../x.pdf",
        "2026-11/../../invoicecloud/2026-11-25.pdf",
        "./x.pdf",
        "a/./x.pdf",
        "/etc/x.pdf",
        "//x.pdf",
        "a//x.pdf",
        "a/",
        ".hidden.pdf",
        "a/.x.pdf",
        "a\\..\\x.pdf",
        "a%2F..%2Fx.pdf",
        "%2e%2e/x.pdf",
        "x.pdf?versionId=1",
        "x.pdf#page=2",
        "s3://other-bucket/x.pdf",
        "https://evil.example/x.pdf",
        "my bill.pdf",
        "x.pdf\nother.pdf",
        "x\x00.pdf",
        "ünïcode.pdf",
        "ＩＮＶ.pdf",  # full-width letters
        "x.txt",
        "x.pdf.exe",
        "pdf",
        ".pdf",
        "x" * 197 + ".pdf",  # 201 characters
    ],
)
def test_names_that_could_leave_the_prefix_or_are_no_pdf_are_refused(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        statement_name(text)
    assert str(refused.value) == f"not {STATEMENT_NAME_RULE}"  # the rule, never the text


def test_a_stored_name_is_checked_again_before_it_becomes_a_key() -> None:
    for stored in ("../x.pdf", " x.pdf", "x.txt", "/x.pdf", "x.pdf\n"):  # "$" would let the last one by
        with pytest.raises(ValueError):
            statement_key(stored)
    assert statement_key("statements/x.pdf") == "statements/statements/x.pdf"  # as stored, no prefix taken off


@given(st.text(max_size=250))
def test_any_accepted_name_makes_a_key_inside_the_prefix(text: str) -> None:
    try:
        name = statement_name(text)
    except ValueError:
        return
    key = statement_key(name)
    assert key.startswith(STATEMENTS_PREFIX) and len(name) <= 200
    assert posixpath.normpath(key) == key  # no ".", "..", empty or trailing part: nothing to resolve
    assert key.isascii() and key.isprintable() and not any(c in key for c in " %\\?#")
    assert name.lower().endswith(".pdf")


@given(st.lists(st.sampled_from(["..", ".", "", "a", "b.pdf", "%2e", "\\"]), min_size=1, max_size=6))
def test_names_built_from_path_steps_never_climb_out(parts: list[str]) -> None:
    text = "/".join(parts)
    try:
        key = statement_key(statement_name(text))
    except ValueError:
        return
    assert ".." not in key.split("/") and posixpath.normpath(key) == key


@pytest.mark.parametrize(
    ("invoice", "name"),
    [("INV-1001-1", "INV-1001-1.pdf"), ("INV 7/2026", "INV-7-2026.pdf"), ("..", "bill.pdf"), ('a"b', "a-b.pdf")],
)
def test_the_download_name_is_safe_in_a_header(invoice: str, name: str) -> None:
    assert download_name(InvoiceRef(account_number="A-1", invoice_number=invoice)) == name


# ---- signed statement links -----------------------------------------------------------------------


def test_a_link_payload_reads_back_as_the_same_link() -> None:
    link = StatementLink(ref=InvoiceRef(account_number="ACCT 1/2", invoice_number="INV.3_4-5"), expires_at=LATER)
    payload = link.payload()
    assert "." not in payload and "/" not in payload and "=" not in payload
    assert StatementLink.from_payload(payload) == link


@pytest.mark.parametrize(
    "payload",
    ["", "!!!", "bm90IGpzb24", "WyJhIiwiYiJd", "WyJhIiwiYiIsIjEiXQ", "WzEsImIiLDFd", "WyJhIiwiYiIsMWUzMDBd"],
)
def test_a_payload_that_is_no_link_is_refused(payload: str) -> None:
    with pytest.raises(ValueError):
        StatementLink.from_payload(payload)


def test_an_expiry_beyond_any_calendar_is_refused() -> None:
    payload = StatementLink(ref=REF, expires_at=LATER).payload()
    data = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data[2] = 10**30
    raw = __import__("base64").urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(ValueError):
        StatementLink.from_payload(raw)


def test_a_link_expires_at_its_time() -> None:
    link = StatementLink(ref=REF, expires_at=LATER)
    assert not link.expired(LATER - timedelta(seconds=1))
    assert link.expired(LATER)


def test_a_signed_token_names_its_key_and_gives_back_its_payload() -> None:
    payload = StatementLink(ref=REF, expires_at=LATER).payload()
    token = RING.signed_token("statement", payload)
    assert token.startswith(f"v2.{payload}.") and token.count(".") == 2
    assert RING.signed_payload("statement", token) == payload


def test_tokens_of_an_older_key_verify_while_it_is_in_the_ring() -> None:
    older = KeyRing.from_secret({"current": "1", "keys": {"1": "a" * 32}})
    token = older.signed_token("statement", "cGF5bG9hZA")
    assert RING.signed_payload("statement", token) == "cGF5bG9hZA"
    retired = KeyRing.from_secret({"current": "2", "keys": {"2": "b" * 32}})
    assert retired.signed_payload("statement", token) is None


def test_a_token_is_bound_to_its_purpose_and_a_postback_token_is_no_link() -> None:
    token = RING.signed_token("statement", "cGF5bG9hZA")
    assert RING.signed_payload("other", token) is None
    postback = RING.postback_token("cGF5bG9hZA")
    assert RING.signed_payload("statement", postback) is None
    assert not RING.verify_postback_token("cGF5bG9hZA", token)


def test_a_tampered_token_gives_nothing() -> None:
    payload = StatementLink(ref=REF, expires_at=LATER).payload()
    token = RING.signed_token("statement", payload)
    key_id, body, mac = token[1:].split(".")
    other = StatementLink(ref=InvoiceRef(account_number="ACCT-2001", invoice_number="INV-2001-1"), expires_at=LATER)
    later = StatementLink(ref=REF, expires_at=LATER + timedelta(days=365))
    tampered = [
        f"v{key_id}.{other.payload()}.{mac}",  # another payer's invoice under this signature
        f"v{key_id}.{later.payload()}.{mac}",  # a later expiry
        f"v1.{body}.{mac}",  # another key's id
        f"v9.{body}.{mac}",  # a key that is not in the ring
        f"v{key_id}.{body}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        f"v{key_id}.{body}.",
        f"v{key_id}..{mac}",
        f"v{key_id}.{body}",
        f"{key_id}.{body}.{mac}",
        f"v{key_id}.{body}.{mac}.extra",
        "",
        "v",
    ]
    for candidate in tampered:
        assert RING.signed_payload("statement", candidate) is None, candidate
    assert RING.signed_payload("statement", None) is None


def test_a_payload_with_a_dot_cannot_be_signed() -> None:
    with pytest.raises(ValueError):
        RING.signed_token("statement", "a.b")
    with pytest.raises(ValueError):
        RING.signed_token("statement", "")


# ---- the billing file's StatementFile column --------------------------------------------------------


def test_the_statement_column_is_optional_in_the_header() -> None:
    check_header(list(COLUMNS))
    check_header([*COLUMNS, "StatementFile"])
    check_header(["StatementFile", *reversed(COLUMNS)])


def test_the_statement_column_may_not_repeat_nor_replace_a_required_one() -> None:
    with pytest.raises(HeaderError, match="repeated columns: StatementFile"):
        check_header([*COLUMNS, "StatementFile", "StatementFile"])
    with pytest.raises(HeaderError, match="missing columns: ACHServiceFee"):
        check_header([*COLUMNS[:-1], "StatementFile"])
    with pytest.raises(HeaderError, match="unexpected columns: 'statementfile'"):
        check_header([*COLUMNS, "statementfile"])


def test_a_row_has_as_many_cells_as_its_header() -> None:
    assert shape_problem(3, len(COLUMNS) + 1, len(COLUMNS) + 1) is None
    problem = shape_problem(3, len(COLUMNS), len(COLUMNS) + 1)
    assert problem is not None and f"the header has {len(COLUMNS) + 1}" in problem.reason


def test_a_row_names_its_bill() -> None:
    row = parse_row(2, cells(StatementFile=" statements/2026-11/INV-1001-1.pdf "))
    assert isinstance(row, ParsedRow)
    assert row.statement_file == "2026-11/INV-1001-1.pdf"
    assert row.invoice(LATER).statement_file == "2026-11/INV-1001-1.pdf"


@pytest.mark.parametrize("cell", [None, "", "  "])
def test_a_row_without_a_bill_has_none(cell: str | None) -> None:
    row = parse_row(2, cells(StatementFile=cell))
    assert isinstance(row, ParsedRow) and row.statement_file is None
    assert row.invoice(LATER).statement_file is None


@pytest.mark.parametrize("cell", ["../billing/20261101T060000Z-full.csv", "/x.pdf", "a\\b.pdf", "x.txt"])
def test_a_bad_statement_name_is_a_bad_row_that_never_quotes_it(cell: str) -> None:
    problems = parse_row(7, cells(StatementFile=cell))
    assert isinstance(problems, list)
    ((column, reason),) = [(problem.column, problem.reason) for problem in problems]
    assert column == "StatementFile" and cell not in reason and "statements/" in reason


# ---- the link in the CPV2 request -----------------------------------------------------------------


def _request(links: dict[InvoiceRef, str] | None, field: str | None) -> dict[str, object]:
    account = Account(account_number="ACCT-1001", name="Pat Payer")
    invoices = [
        Invoice(
            account_number="ACCT-1001",
            invoice_number=number,
            invoice_date=date(2026, 10, 28),
            billed_cents=1000,
            billed_as_of=LATER,
        )
        for number in ("INV-1001-1", "INV-1001-2")
    ]
    request = cpv2.build_payment_request(
        template_options(),
        [(account, invoice, 1000) for invoice in invoices],
        post_back_url="https://api.example/postback/p/t",
        return_url="https://portal.example/#/return/p",
        biller_reference="p",
        statement_links=links,
        statement_link_field=field,
    )
    sent: dict[str, object] = json.loads(cpv2.encode_request(request))
    return sent


def test_a_statement_link_goes_in_the_field_the_setting_names_on_its_invoice_alone() -> None:
    sent = _request({REF: "https://api.example/statement-links/v1.x.y"}, "StatementURL")
    (customer,) = sent["Customers"]  # type: ignore[misc]
    first, second = customer["Invoices"]
    assert first["StatementURL"] == "https://api.example/statement-links/v1.x.y"
    assert "StatementURL" not in second


def test_without_links_the_request_is_the_seeds() -> None:
    assert _request(None, None) == _request({}, "StatementURL")
    assert "StatementURL" not in json.dumps(_request(None, "StatementURL"))


@pytest.mark.parametrize("field", ["BalanceDue", "invoicenumber", "TypeID"])
def test_the_link_field_may_not_be_one_cpv2_invoices_already_have(field: str) -> None:
    with pytest.raises(ConfigurationError):
        _request({REF: "https://api.example/statement-links/v1.x.y"}, field)
