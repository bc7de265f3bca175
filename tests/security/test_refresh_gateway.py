"""Invoice Cloud's balance refresh through the gateway as an attacker meets it (DESIGN §3): hostile account
numbers (path traversal, huge, unicode, encoded slashes, control characters) are refused alike and match
nothing, with or without the credential; and the logs name no account, payer or credential, whatever
was sent."""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from sandbox.runner import Sandbox
from tests.security.leaks import LogCapture

pytestmark = pytest.mark.sandbox

# ---- hostile account numbers, through the gateway ---------------------------------------------------------

HOSTILE = {
    "traversal": "../../payments",
    "encoded-traversal": "..%2F..%2Fpayments",
    "dot-segments": "%2E%2E",
    "encoded-slash": "ACCT-1001%2FINV-1001-1",
    "double-encoded-slash": "ACCT-1001%252F..",
    "backslash": "ACCT-1001%5C..",
    "huge": "A" * 8000,
    "huge-encoded": "%41" * 3000,
    "nul": "ACCT-1001%00",
    "crlf": "ACCT-1001%0D%0AX-Injected:%201",
    "look-alike-hyphen": quote("ACCT\u20101001"),
    "cyrillic": quote("\u0410CCT-1001"),
    "bidi-override": quote("\u202eACCT-1001"),
    "zero-width": quote("ACCT-1001\u200b"),
    "fullwidth": quote("ＡＣＣＴ-1001"),
    "lone-surrogate": "%ED%A0%80",
    "not-utf8": "%FF%FE",
    "key-injection": quote("ACCT-1001#INVOICE#INV-1001-1"),
    "wildcard": "%2A",
    "empty-ish": "%20",
}


@pytest.fixture(scope="module")
def credential(sandbox: Sandbox) -> tuple[str, str]:
    values = sandbox.secrets.refresh_credential
    return values["username"], values["secret"]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def get(sandbox: Sandbox, raw: str, auth: tuple[str, str] | None = None) -> Answer:
    """``GET /invoicecloud/accounts/<raw>``, the path sent exactly as written (no client normalizes its
    dot segments or its encoding away)."""
    parts = urlsplit(sandbox.gateway_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        connection.putrequest("GET", f"/invoicecloud/accounts/{raw}", skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def test_hostile_account_numbers_are_refused_alike_and_match_nothing(
    sandbox: Sandbox, credential: tuple[str, str]
) -> None:
    refused = get(sandbox, "ACCT-1001")
    unknown = get(sandbox, "ACCT-000", credential)
    assert (refused.status, unknown.status) == (401, 404)
    reached = []
    for name, raw in HOSTILE.items():
        stranger = get(sandbox, raw)
        invoice_cloud = get(sandbox, raw, credential)
        for answer in (stranger, invoice_cloud):
            assert answer.status < 500, (name, answer.status, answer.content[:200])
            assert answer.headers.get("cache-control") == "no-store", name
            assert b"Alice" not in answer.content and b"INV-1001" not in answer.content, name
        if stranger.content == refused.content:  # our route: the function refused before reading
            assert invoice_cloud.status == 404 and invoice_cloud.content == unknown.content, name
            reached.append(name)
        else:  # not one path segment: no route of ours, and the credential changes nothing
            assert stranger.status in (401, 404) and stranger.content == invoice_cloud.content, name
    assert {"huge", "nul", "crlf", "cyrillic", "bidi-override", "key-injection"} <= set(reached), reached
    assert get(sandbox, "ACCT-1001", credential).json()["AccountNumber"] == "ACCT-1001"  # the control


def test_the_refresh_answers_carry_no_store_and_nosniff(sandbox: Sandbox, credential: tuple[str, str]) -> None:
    for answer in (
        get(sandbox, "ACCT-1001"),
        get(sandbox, "ACCT-1001", credential),
        get(sandbox, "ACCT-000", credential),
    ):
        assert answer.headers.get("cache-control") == "no-store"
        assert answer.headers.get("x-content-type-options") == "nosniff"


# ---- the logs ---------------------------------------------------------------------------------------------


def test_the_logs_name_no_account_payer_or_credential(
    sandbox: Sandbox, credential: tuple[str, str], log_capture: LogCapture
) -> None:
    start = len(log_capture.lines)
    get(sandbox, "ACCT-1001", credential)
    get(sandbox, "ACCT-1001", ("invoicecloud", "a-guess-" + credential[1][8:]))
    get(sandbox, "ACCT-2001")
    get(sandbox, "ACCT-000", credential)
    get(sandbox, quote("ACCT-1001\u202e"), credential)
    get(sandbox, "ACCT-1001%2F..", credential)
    requests.post(f"{sandbox.simulator_url}/_sim/refresh/ACCT-2001", timeout=30).raise_for_status()
    lines = log_capture.lines[start:]
    assert any("Balance refresh answered" in line and '"account_hash"' in line for line in lines), lines
    assert any("Balance refresh refused" in line for line in lines)
    assert any("Balance refresh for an unknown account" in line for line in lines)
    token = base64.b64encode(f"{credential[0]}:{credential[1]}".encode()).decode()
    for line in lines:
        for secret in (credential[1], credential[1][8:], token, "ACCT-1001", "ACCT-2001", "ACCT-000", "Alice Anders"):
            assert secret not in line, line
    capture = LogCapture()
    capture.lines = lines
    capture.secrets = set(log_capture.secrets)
    assert capture.leaks() == []
