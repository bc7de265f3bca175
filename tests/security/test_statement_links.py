"""Signed statement links (DESIGN §6g), as someone who holds one, or guesses, would try them: GET
/statement-links/{token} is outside the JWT authorizer, so its token is all that stands between the
internet and payers' bills. A tampered link (another invoice, a later expiry, another key), a forged
or foreign token, an expired link, and any link while IC_STATEMENT_LINKS is off are refused before
anything is read; only a link we signed, still valid, for an invoice still on the bill, opens it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from avocette import clock
from avocette.domain.billing import InvoiceRef
from avocette.domain.statements import StatementLink
from avocette.security import KeyRing
from avocette.service.statements import LINK_PURPOSE, statement_link_token

from stackdef import caches
from tests.helpers import (
    HttpResult,
    Stack,
    add_account,
    add_invoice,
    get_statement,
    open_statement_link,
    postback_token,
    put_statement,
)
from tests.security.leaks import LogCapture

MINE = InvoiceRef(account_number="ACCT-7", invoice_number="INV-7-1")
THEIRS = InvoiceRef(account_number="ACCT-8", invoice_number="INV-8-1")


@pytest.fixture
def links(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("IC_STATEMENT_LINKS", "true")
    caches.reset()
    for ref in (MINE, THEIRS):
        add_account(ref.account_number, linked_to=(ref.account_number.lower(),))
        add_invoice(ref.account_number, ref.invoice_number, "40.00", statement_file=f"{ref.invoice_number}.pdf")
        put_statement(stack, f"{ref.invoice_number}.pdf")
    return stack


def ring(stack: Stack) -> KeyRing:
    return KeyRing.from_secret(stack.secrets.statement_link_keys)


def link_for(stack: Stack, ref: InvoiceRef = MINE, *, minutes: int = 60, keys: KeyRing | None = None) -> str:
    expires_at = clock.utc_now() + timedelta(minutes=minutes)
    return statement_link_token(keys or ring(stack), StatementLink(ref=ref, expires_at=expires_at))


def b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def refused(answer: HttpResult, status: int, code: str) -> None:
    assert (answer.status, answer.json["error"]) == (status, code), answer.body
    assert "Location" not in answer.headers and "X-Amz" not in answer.body


@pytest.fixture
def nothing_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if the table or the bucket is asked anything (records what was asked)."""
    from avocette.store import billing, statements

    asked: list[str] = []

    def refuse(name: str) -> Any:
        def reading(*args: Any, **kwargs: Any) -> Any:
            asked.append(name)
            raise AssertionError(f"{name} read before the token was checked")

        return reading

    monkeypatch.setattr(billing, "get_invoice", refuse("get_invoice"))
    monkeypatch.setattr(statements, "statement_exists", refuse("statement_exists"))
    return asked


def test_a_link_we_signed_opens_its_bill_and_no_other(links: Stack) -> None:
    answer = open_statement_link(link_for(links))
    assert answer.status == 302, answer.body
    assert answer.headers["Location"].split("?")[0].endswith("/statements/INV-7-1.pdf")


def test_a_tampered_link_is_refused_before_anything_is_read(links: Stack, nothing_read: list[str]) -> None:
    token = link_for(links)
    key_id, payload, mac = token[1:].split(".")
    later = StatementLink(ref=MINE, expires_at=clock.utc_now() + timedelta(days=3650))
    theirs = StatementLink(ref=THEIRS, expires_at=later.expires_at).payload()
    other_ring = KeyRing.from_secret({"current": "1", "keys": {"1": "not-our-key-" * 3}})
    flipped = f"{mac[:5]}{'B' if mac[5] == 'A' else 'A'}{mac[6:]}"

    def mac_of(keys: KeyRing, purpose: str) -> str:
        return keys.signed_token(purpose, payload).rsplit(".", 1)[1]

    tampered = {
        "another payer's invoice under my signature": f"v{key_id}.{theirs}.{mac}",
        "a later expiry under my signature": f"v{key_id}.{later.payload()}.{mac}",
        "a key id not in the ring": f"v9.{payload}.{mac}",
        "a flipped character of the mac": f"v{key_id}.{payload}.{flipped}",
        "the mac left out": f"v{key_id}.{payload}.",
        "a mac of the payload without our key": f"v{key_id}.{payload}.{mac_of(other_ring, LINK_PURPOSE)}",
        "signed with a key of our own choosing": link_for(links, keys=other_ring),
        "a postback token": postback_token(links, payload),
        "the same link for another purpose": f"v{key_id}.{payload}.{mac_of(ring(links), 'postback')}",
        "a payload of our own, unsigned": f"v{key_id}.{b64(['ACCT-8', 'INV-8-1', 4102444800])}.x",
        "garbage": "not-a-token",
        "dots only": "..",
        "a path step": "..%2F..%2Fstatements%2FINV-8-1.pdf",
        "empty": "",
        "very long": "v1." + "A" * 5000 + ".x",
    }
    for name, candidate in tampered.items():
        refused(open_statement_link(candidate), 403, "invalid_link")
        assert nothing_read == [], name


def test_a_link_past_its_expiry_is_gone_and_says_so(links: Stack, nothing_read: list[str]) -> None:
    token = link_for(links, minutes=60)
    clock.set_offset(timedelta(minutes=61))
    try:
        refused(open_statement_link(token), 410, "link_expired")
    finally:
        clock.set_offset(timedelta())
    assert nothing_read == []


def test_the_expiry_is_exact_to_the_second(links: Stack) -> None:
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    token = statement_link_token(ring(links), StatementLink(ref=MINE, expires_at=expires_at))
    clock.set_offset(timedelta(minutes=10) - timedelta(seconds=2))
    try:
        assert open_statement_link(token).status == 302
        clock.set_offset(timedelta(minutes=10) + timedelta(seconds=1))
        refused(open_statement_link(token), 410, "link_expired")
    finally:
        clock.set_offset(timedelta())


def test_every_link_is_refused_while_links_are_off_and_no_key_is_read(
    links: Stack, monkeypatch: pytest.MonkeyPatch, nothing_read: list[str]
) -> None:
    token = link_for(links)
    monkeypatch.setenv("IC_STATEMENT_LINKS", "false")
    monkeypatch.setenv("STATEMENT_LINK_KEYS_ARN", "arn:aws:secretsmanager:us-east-1:000000000000:secret:none")
    caches.reset()
    refused(open_statement_link(token), 403, "invalid_link")


def test_a_retired_key_no_longer_opens_its_links(links: Stack) -> None:
    import boto3

    token = link_for(links)
    rotated = {"current": "2", "keys": {"2": "a-newer-key-" * 3}}
    boto3.client("secretsmanager").put_secret_value(
        SecretId=links.env["STATEMENT_LINK_KEYS_ARN"], SecretString=json.dumps(rotated)
    )
    caches.reset()
    refused(open_statement_link(token), 403, "invalid_link")


def test_a_link_to_a_bill_removed_since_answers_not_found(links: Stack) -> None:
    import boto3

    token = link_for(links)
    boto3.client("s3").delete_object(Bucket=links.names.inbound_bucket, Key="statements/INV-7-1.pdf")
    refused(open_statement_link(token), 404, "statement_not_found")


def test_bills_leave_no_payer_detail_token_or_url_in_the_logs(links: Stack, log_capture: LogCapture) -> None:
    """Every way through both routes, the missing-PDF warning among them: the log lines name no
    account, invoice or statement, no payer, and carry neither the link's token nor a presigned URL."""
    import boto3

    seen = len(log_capture.lines)
    token = link_for(links)
    assert get_statement("acct-7", MINE.account_number, MINE.invoice_number).status == 200
    assert get_statement("acct-8", MINE.account_number, MINE.invoice_number).status == 404
    assert open_statement_link(token).status == 302
    assert open_statement_link(token[:-2] + "xx").status == 403
    boto3.client("s3").delete_object(Bucket=links.names.inbound_bucket, Key="statements/INV-7-1.pdf")
    assert get_statement("acct-7", MINE.account_number, MINE.invoice_number).status == 404
    assert open_statement_link(token).status == 404
    lines = log_capture.lines[seen:]
    assert any("not in the bucket" in line and "billed_as_of" in line for line in lines), lines
    forbidden = ("ACCT-7", "INV-7-1", "INV-7-1.pdf", token, token.split(".")[1], "X-Amz", "Pat Payer", "1 Main St")
    leaked = [(value, line) for line in lines for value in forbidden if value in line]
    assert leaked == []
