"""Bills (DESIGN §3, §6g) through the functions, against moto and the Invoice Cloud simulator: the
statements route answers a presigned URL that reads the PDF, for the caller's open invoices with a
bill; the billing import keeps each invoice's StatementFile; with IC_STATEMENT_LINKS on, the CPV2
request carries a signed link per bill in the configured field, and the link leads to the bill."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from avocette import clock
from avocette.domain.billing import InvoiceRef
from avocette.domain.statements import StatementLink
from avocette.security import KeyRing
from avocette.service.billing_import import ImportRules, import_billing
from avocette.service.statements import statement_link_token

from stackdef import caches
from tests.helpers import (
    PDF,
    Stack,
    add_account,
    add_invoice,
    get_invoice,
    get_statement,
    open_statement_link,
    put_statement,
    session_id_of,
    start_payment,
    table_items,
)


@pytest.fixture
def alice(stack: Stack) -> Stack:
    add_account("A-1", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-1", "I-1", "84.20", statement_file="2026-11/I-1.pdf")
    add_invoice("A-1", "I-2", "42.15")  # no bill
    put_statement(stack, "2026-11/I-1.pdf")
    return stack


def fetched(url: str) -> requests.Response:
    """What a browser gets from the presigned URL (moto answers it like S3)."""
    return requests.get(url, timeout=10)


def test_the_callers_bill_is_a_presigned_url_that_reads_the_pdf(alice: Stack) -> None:
    before = clock.utc_now()
    answer = get_statement("alice", "A-1", "I-1")
    assert answer.status == 200, answer.body
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json
    assert set(body) == {"url", "expiresAt"}
    expires = datetime.fromisoformat(body["expiresAt"])
    assert before + timedelta(minutes=5) <= expires <= clock.utc_now() + timedelta(minutes=5)
    url = urlsplit(body["url"])
    assert url.path.endswith("/statements/2026-11/I-1.pdf")
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["response-content-type"] == ["application/pdf"]
    assert query["response-content-disposition"] == ['inline; filename="I-1.pdf"']
    pdf = fetched(body["url"])
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["Content-Type"] == "application/pdf"


def test_an_invoice_without_a_bill_or_whose_pdf_is_gone_answers_not_found(alice: Stack) -> None:
    missing = get_statement("alice", "A-1", "I-404")
    assert missing.status == 404 and missing.json["error"] == "statement_not_found"
    assert get_statement("alice", "A-1", "I-2").body == missing.body
    boto3.client("s3").delete_object(Bucket=alice.names.inbound_bucket, Key="statements/2026-11/I-1.pdf")
    assert get_statement("alice", "A-1", "I-1").body == missing.body


def test_a_closed_invoices_bill_is_not_shown(alice: Stack) -> None:
    """A full billing file closed it: its bill may be a previous occupant's."""
    from avocette.store import billing

    billing.put_invoice(replace(get_invoice("A-1", "I-1"), **{"closed_at": clock.utc_now()}))
    answer = get_statement("alice", "A-1", "I-1")
    assert answer.status == 404 and answer.json["error"] == "statement_not_found"


def test_a_stored_name_outside_statements_is_never_presigned(alice: Stack) -> None:
    """The import refuses such names; one written into the table some other way is refused again."""
    from avocette.store import billing

    put_statement(alice, "x.pdf")
    boto3.client("s3").put_object(Bucket=alice.names.inbound_bucket, Key="billing/secret.pdf", Body=b"%PDF-")
    for stored in ("../billing/secret.pdf", "/billing/secret.pdf", "x.pdf\n", "statements/../billing/secret.pdf"):
        billing.put_invoice(replace(get_invoice("A-1", "I-1"), **{"statement_file": stored}))
        answer = get_statement("alice", "A-1", "I-1")
        assert answer.status == 404 and "url" not in answer.json, (stored, answer.body)


def test_the_bill_route_is_read_only(alice: Stack) -> None:
    before = table_items(alice)
    assert get_statement("alice", "A-1", "I-1").status == 200
    assert get_statement("bob", "A-1", "I-1").status == 404
    assert table_items(alice) == before


# ---- the billing import -------------------------------------------------------------------------

HEADER = (
    "AccountNumber,Name,Address,City,State,Zip,EmailAddress,RegistrationValue,InvoiceNumber,TypeID,"
    "InvoiceDate,DueDate,BalanceDue,MinimumAmountDue,AllowPartialPayments,CCServiceFee,ACHServiceFee"
)


def billing_file(stack: Stack, key: str, rows: list[str], *, statement_column: bool) -> dict[str, object]:
    header = HEADER + (",StatementFile" if statement_column else "")
    report = import_billing(
        io.StringIO("\n".join([header, *rows]) + "\n"), key=key, rules=ImportRules.from_environment()
    )
    return json.loads(report.to_json())  # type: ignore[no-any-return]


def row(invoice: str, statement: str | None) -> str:
    cells = f"S-1,Pat Payer,1 Main St,Tampa,FL,33601,pat@example.com,S1-REG,{invoice},6,10/28/2026,11/20/2026,10.00,,,,"
    return cells if statement is None else f"{cells},{statement}"


def test_the_import_keeps_each_invoices_bill_and_a_later_file_may_drop_it(stack: Stack) -> None:
    report = billing_file(
        stack,
        "billing/20261101T060000Z.csv",
        [row("I-1", "statements/2026-11/I-1.pdf"), row("I-2", ""), row("I-3", "../billing/x.csv")],
        statement_column=True,
    )
    assert report["invoices"]["written"] == 2  # type: ignore[index]
    (problem,) = report["badRows"]  # type: ignore[misc]
    assert (problem["row"], problem["column"]) == (4, "StatementFile") and "x.csv" not in json.dumps(problem)
    assert get_invoice("S-1", "I-1").statement_file == "2026-11/I-1.pdf"
    assert get_invoice("S-1", "I-2").statement_file is None
    # A later file without the column: the invoices it lists have no bill any more.
    billing_file(stack, "billing/20261102T060000Z.csv", [row("I-1", None)], statement_column=False)
    assert get_invoice("S-1", "I-1").statement_file is None
    items = [item for item in table_items(stack, "ACCOUNT#S-1") if item["SK"] == "INVOICE#I-1"]
    assert "statementFile" not in items[0]


# ---- signed statement links in the CPV2 request -------------------------------------------------


@pytest.fixture
def links_on(alice: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("IC_STATEMENT_LINKS", "true")
    caches.reset()
    return alice


def ring(stack: Stack) -> KeyRing:
    return KeyRing.from_secret(stack.secrets.statement_link_keys)


def cpv2_request(stack: Stack, payment_url: str) -> dict[str, object]:
    answer = requests.get(f"{stack.simulator_url}/_sim/sessions/{session_id_of(payment_url)}", timeout=5)
    return answer.json()["request"]  # type: ignore[no-any-return]


def test_with_links_off_the_cpv2_request_carries_none(alice: Stack) -> None:
    started = start_payment("alice", [("A-1", "I-1")])
    assert started.status == 201, started.body
    assert "statement-links" not in json.dumps(cpv2_request(alice, started.json["paymentUrl"]))


def test_with_links_on_each_bill_goes_to_invoice_cloud_as_a_signed_link_that_opens_it(links_on: Stack) -> None:
    started = start_payment("alice", [("A-1", "I-1"), ("A-1", "I-2")])
    assert started.status == 201, started.body
    (customer,) = cpv2_request(links_on, started.json["paymentUrl"])["Customers"]  # type: ignore[misc]
    with_bill, without = customer["Invoices"]
    assert "StatementURL" not in without
    link = with_bill["StatementURL"]
    prefix = f"{links_on.api_base}/statement-links/"
    assert link.startswith(prefix)
    token = link.removeprefix(prefix)
    # Signed with the statement ring's current key, for this invoice, for 60 minutes.
    payload = ring(links_on).signed_payload("statement", token)
    assert payload is not None and token.startswith("v1.")
    named = StatementLink.from_payload(payload)
    assert named.ref == InvoiceRef(account_number="A-1", invoice_number="I-1")
    assert timedelta(minutes=59) < named.expires_at - clock.utc_now() <= timedelta(minutes=60)

    opened = open_statement_link(token)
    assert opened.status == 302, opened.body
    assert opened.headers["Cache-Control"] == "no-store" and opened.headers["Referrer-Policy"] == "no-referrer"
    location = opened.headers["Location"]
    assert urlsplit(location).path.endswith("/statements/2026-11/I-1.pdf")
    assert fetched(location).content == PDF


def test_the_link_field_is_the_setting(links_on: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IC_STATEMENT_LINK_FIELD", "BillPdfUrl")
    caches.reset()
    links_on.simulator.update_config({"statementLinkField": "BillPdfUrl"})
    started = start_payment("alice", [("A-1", "I-1")])
    assert started.status == 201, started.body
    (customer,) = cpv2_request(links_on, started.json["paymentUrl"])["Customers"]  # type: ignore[misc]
    (invoice,) = customer["Invoices"]
    assert "StatementURL" not in invoice and invoice["BillPdfUrl"].startswith(f"{links_on.api_base}/statement-links/")


def test_the_simulator_refuses_a_link_in_a_field_it_was_not_told_of(links_on: Stack) -> None:
    """Invoice Cloud's real field is unknown: the simulator accepts the one it is configured with only."""
    links_on.simulator.update_config({"statementLinkField": None})
    started = start_payment("alice", [("A-1", "I-1")])
    assert started.status == 502 and started.json["error"] == "invoice_cloud_unavailable"


def test_links_on_without_a_key_ring_fail_payments_loudly(links_on: Stack) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=links_on.env["STATEMENT_LINK_KEYS_ARN"], SecretString='{"current": "", "keys": {}}'
    )
    caches.reset()
    started = start_payment("alice", [("A-1", "I-1")])
    assert started.status == 500 and started.json["error"] == "internal_error"
    assert table_items(links_on, "PAYMENT#") == []  # refused before anything was held


def test_a_link_leads_to_the_bill_as_it_is_when_opened(links_on: Stack) -> None:
    token = statement_link_token(
        ring(links_on),
        StatementLink(
            ref=InvoiceRef(account_number="A-1", invoice_number="I-1"),
            expires_at=datetime.now(UTC) + timedelta(minutes=60),
        ),
    )
    assert open_statement_link(token).status == 302
    from avocette.store import billing

    billing.put_invoice(replace(get_invoice("A-1", "I-1"), **{"closed_at": clock.utc_now()}))
    gone = open_statement_link(token)
    assert gone.status == 404 and gone.json["error"] == "statement_not_found"


def test_the_links_route_is_described_without_the_jwt() -> None:
    from stackdef.openapi import build_openapi_document

    operation = build_openapi_document()["paths"]["/statement-links/{token}"]["get"]
    assert operation["security"] == [] and set(operation["responses"]) == {"302", "403", "404", "410", "503"}
    route = build_openapi_document()["paths"]["/accounts/{accountNumber}/invoices/{invoiceNumber}/statement"]["get"]
    assert "404" in route["responses"] and route.get("security") != []
