"""Hostile input through the sandbox's gateway, as anyone with a valid token could send it: sizes
counted in bytes, nesting, giant numbers, other encodings, control characters, and look-alike
characters in account numbers, invoice numbers and registration values. Each is refused with one of
the contract's 4xx (never a 5xx, never a match); then the headers every answer and every HTML page
must carry."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from sandbox.runner import Sandbox
from tests.security.conftest import dev_token
from tests.security.leaks import LogCapture

pytestmark = pytest.mark.sandbox

LIMIT = 64 * 1024
PORTAL_POSTS = ("/payments", "/registrations")


@pytest.fixture(scope="module")
def api(sandbox: Sandbox) -> Iterator[Api]:
    yield Api(sandbox)


class Api:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.base = sandbox.gateway_url
        self._tokens: dict[str, str] = {}

    def token(self, sub: str) -> str:
        if sub not in self._tokens:
            self._tokens[sub] = dev_token(self.sandbox, sub)
        return self._tokens[sub]

    def send(
        self,
        method: str,
        path: str,
        *,
        sub: str | None = "alice",
        data: bytes | None = None,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if sub is not None:
            sent["Authorization"] = f"Bearer {self.token(sub)}"
        if content_type is not None:
            sent["Content-Type"] = content_type
        return requests.request(method, f"{self.base}{path}", data=data, headers=sent, params=params, timeout=30)


def refused(answer: requests.Response, *statuses: int) -> dict[str, Any]:
    """A contract error: one of ``statuses``, a JSON ``{"error", "message"}`` body, never cached."""
    assert answer.status_code in statuses, (answer.status_code, answer.text[:300])
    assert answer.headers.get("Cache-Control") == "no-store"
    body: dict[str, Any] = answer.json()
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str)
    return body


def payment_body(account: str, invoice: str) -> bytes:
    return json.dumps({"invoices": [{"accountNumber": account, "invoiceNumber": invoice}]}).encode()


def registration_body(account: str, value: str) -> bytes:
    return json.dumps({"accounts": [{"accountNumber": account, "registrationValue": value}]}).encode()


def padded_to(size: int, *, character: str = "x") -> bytes:
    """A JSON document of exactly ``size`` bytes: ``{"pad": "xxx..."}``, ``character`` repeated."""
    frame = len(b'{"pad": ""}')
    width = len(character.encode())
    count, rest = divmod(size - frame, width)
    document = ('{"pad": "' + character * count + "x" * rest + '"}').encode()
    assert len(document) == size
    return document


# ---- sizes, counted in bytes ---------------------------------------------------------------------


@pytest.mark.parametrize("path", PORTAL_POSTS)
def test_the_64_kb_limit_counts_bytes(api: Api, path: str) -> None:
    at_limit = api.send("POST", path, data=padded_to(LIMIT))
    assert at_limit.status_code == 422  # read, then refused by the schema: not a size matter
    refused(api.send("POST", path, data=padded_to(LIMIT + 1)), 413)
    # Fewer than 64 K characters, more than 64 KB: three bytes each.
    euros = padded_to(LIMIT + 2, character="€")
    assert len(euros.decode()) < LIMIT < len(euros)
    assert refused(api.send("POST", path, data=euros), 413)["error"] == "payload_too_large"
    # A megabyte is answered as quickly as the limit, and the same way.
    refused(api.send("POST", path, data=padded_to(1024 * 1024)), 413)


def test_the_postback_limit_counts_bytes(api: Api) -> None:
    body = ("PaymentGUID=" + "€" * 22_000).encode()
    assert len(body) > LIMIT
    answer = api.send(
        "POST", "/postback/p-1/v2.x", sub=None, data=body, content_type="application/x-www-form-urlencoded"
    )
    refused(answer, 413)


def send_chunked(base: str, path: str, chunks: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """POST ``chunks`` as they are after a ``Transfer-Encoding: chunked`` header: (status, headers, body)."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(chunks)
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n"], ids=["not-hex", "negative"])
@pytest.mark.parametrize("server", ["gateway", "simulator", "moto"])
def test_a_malformed_chunked_body_is_a_400_without_a_traceback(
    api: Api, log_capture: LogCapture, server: str, chunks: bytes
) -> None:
    base = {"gateway": api.base, "simulator": api.sandbox.simulator_url, "moto": api.sandbox.moto_url}[server]
    path = {"gateway": "/registrations", "simulator": "/cloudpaymentsapi/v2", "moto": "/bucket/key"}[server]
    seen = len(log_capture.lines)
    headers = {"Authorization": f"Bearer {api.token('alice')}", "Content-Type": "application/json"}
    status, answer_headers, body = send_chunked(base, path, chunks, headers)
    assert status == 400, body[:300]
    assert json.loads(body) == {"error": "bad_request", "message": "The request body's chunked encoding is malformed."}
    assert answer_headers.get("Connection") == "close"  # what follows the bad chunk is not a request
    assert server == "moto" or answer_headers.get("Cache-Control") == "no-store"
    assert not [line for line in log_capture.lines[seen:] if "Traceback" in line or "Error on request" in line]


def test_a_well_formed_chunked_body_is_read_whole(api: Api) -> None:
    body = registration_body("ACCT-NONE", "X-1")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    headers = {"Authorization": f"Bearer {api.token('chunked')}", "Content-Type": "application/json"}
    status, _, answer = send_chunked(api.base, "/registrations", chunks, headers)
    assert status == 200, answer[:300]
    assert json.loads(answer)["accounts"][0]["outcome"] == "REJECTED"


# ---- structure: depth, numbers, constants ----------------------------------------------------------------

STRUCTURES = {
    "33-deep": (b'{"invoices": ' + b"[" * 32 + b"]" * 32 + b"}", 400),
    "30000-deep": (b"[" * 30_000 + b"]" * 30_000, 400),
    "31-digit-integer": (b'{"invoices": ' + b"9" * 31 + b"}", 400),
    "negative-31-digit-integer": (b'{"invoices": -' + b"9" * 31 + b"}", 400),
    "30-digit-integer": (b'{"invoices": ' + b"9" * 30 + b"}", 422),
    "huge-exponent": (b'{"invoices": 1e999999999}', 422),
    "NaN": (b'{"invoices": NaN}', 400),
    "Infinity": (b'{"invoices": -Infinity}', 400),
    "duplicate-keys": (b'{"invoices": [], "invoices": 5}', 422),
    "trailing-garbage": (b'{"invoices": []} {}', 400),
    "empty-object": (b"{}", 422),
    "a-bare-string": (b'"invoices"', 422),
    "null": (b"null", 422),
}


@pytest.mark.parametrize("name", sorted(STRUCTURES))
@pytest.mark.parametrize("path", PORTAL_POSTS)
def test_hostile_structures_are_refused_with_a_4xx(api: Api, path: str, name: str) -> None:
    body, status = STRUCTURES[name]
    refused(api.send("POST", path, data=body), status)


def test_32_levels_are_read(api: Api) -> None:
    body = b'{"invoices": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert refused(api.send("POST", "/payments", data=body), 422)["error"] == "validation_error"


# ---- encodings and content types ------------------------------------------------------------------------

ENCODINGS = {
    "utf-16": '{"invoices": []}'.encode("utf-16"),
    "utf-16-be-no-bom": '{"invoices": []}'.encode("utf-16-be"),
    "utf-32": '{"invoices": []}'.encode("utf-32"),
    "utf-8-bom": b'\xef\xbb\xbf{"invoices": []}',
    "latin-1": '{"invoices": [{"accountNumber": "ACCT-1001é"}]}'.encode("latin-1"),
    "overlong-slash": b'{"invoices": "\xc0\xaf"}',
    "encoded-surrogate": b'{"invoices": "\xed\xa0\x80"}',
    "truncated-sequence": b'{"invoices": "\xe2\x82"}',
    "nul-byte": b'{"invoices": [\x00]}',
}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
@pytest.mark.parametrize("path", PORTAL_POSTS)
def test_other_encodings_are_invalid_json(api: Api, path: str, name: str) -> None:
    assert refused(api.send("POST", path, data=ENCODINGS[name]), 400)["error"] == "invalid_json"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml", "image/png"],
)
@pytest.mark.parametrize("path", PORTAL_POSTS)
def test_bodies_that_are_not_json_are_415(api: Api, path: str, content_type: str) -> None:
    answer = api.send("POST", path, data=b'{"invoices": []}', content_type=content_type)
    assert refused(answer, 415)["error"] == "unsupported_media_type"


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8"])
def test_application_json_in_any_case_is_read(api: Api, content_type: str) -> None:
    unknown_invoice = api.send(
        "POST", "/payments", data=payment_body("ACCT-1001", "INV-NONE"), content_type=content_type
    )
    assert refused(unknown_invoice, 404)["error"] == "invoice_not_found"
    answer = api.send(
        "POST",
        "/registrations",
        sub="media-case",
        data=registration_body("ACCT-NONE", "X-1"),
        content_type=content_type,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accounts"][0]["outcome"] == "REJECTED"


ESCAPED_STRINGS = {
    "lone-high-surrogate": "\\ud800",
    "lone-low-surrogate": "\\udfff",
    "nul": "ACCT-1001\\u0000",
    "bell-and-escape": "\\u0007\\u001b[31m",
    "newline-injection": "ACCT-1001\\r\\nX-Injected: 1",
    "bidi-override": "\\u202eACCT-1001",
    "right-to-left-mark": "ACCT-1001\\u200f",
    "64k-of-nothing": "\\u200b" * 2000,
}


@pytest.mark.parametrize("name", sorted(ESCAPED_STRINGS))
def test_hostile_strings_in_every_field_are_refused_or_match_nothing(api: Api, name: str) -> None:
    text = ESCAPED_STRINGS[name]
    for field in ("accountNumber", "invoiceNumber"):
        other = "INV-1001-1" if field == "accountNumber" else "ACCT-1001"
        pair = {"accountNumber": other, "invoiceNumber": other, field: "@@"}
        raw = json.dumps({"invoices": [pair]}).replace('"@@"', f'"{text}"').encode()
        refused(api.send("POST", "/payments", data=raw), 404, 422)
    raw = registration_body("ACCT-3001", "@@").replace(b'"@@"', f'"{text}"'.encode())
    answer = api.send("POST", "/registrations", sub=f"hostile-{name}", data=raw)
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 200:
        assert [a["outcome"] for a in answer.json()["accounts"]] == ["REJECTED"]
    # Not an account to anyone, and not an id to look up: 404 like any unknown one.
    refused(
        api.send("GET", "/payments/" + quote(json.loads(f'"{text}"').encode("utf-8", "surrogatepass"), safe="")),
        404,
        422,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "1e9"},
        {"limit": "9" * 40},
        {"limit": "NaN"},
        {"cursor": "garbage"},
        {"cursor": "x" * 5000},
        {"cursor": "eyJQSyI6ICJVU0VSI2JvYiJ9"},  # base64 of a key in another user's partition
        {"cursor": "\u0000\u202e€"},
    ],
    ids=lambda params: "-".join(f"{k}={v[:12]!r}" for k, v in params.items()),
)
def test_hostile_query_strings_are_4xx(api: Api, params: dict[str, str]) -> None:
    refused(api.send("GET", "/payments", params=params, content_type=None), 422)


# ---- look-alike characters: never a match ----------------------------------------------------------------

# Characters that look like the real ones but are not the same under NFKC (which the registration value
# comparison applies on purpose: a full-width "３００１" typed on another keyboard is the same value).
LOOK_ALIKES: dict[str, dict[str, str]] = {
    "cyrillic": {"A": "\u0410", "C": "\u0421", "E": "\u0415", "I": "\u0406", "O": "\u041e"},
    "greek": {"A": "\u0391", "C": "\u03f9", "E": "\u0395", "I": "\u0399", "N": "\u039d"},
    "letter-o-for-zero": {"0": "O"},
    "letter-l-for-one": {"1": "l"},
    "unicode-hyphen": {"-": "\u2010"},
    "minus-sign": {"-": "\u2212"},
    "zero-width-space": {"-": "-\u200b"},
    "soft-hyphen": {"-": "\u00ad-"},
    "combining-acute": {"1": "1\u0301"},
}


def look_alike(value: str, name: str) -> str:
    """``value`` with its first character that has a look-alike under ``name`` replaced by it."""
    for position, character in enumerate(value):
        fake = LOOK_ALIKES[name].get(character)
        if fake is not None:
            return value[:position] + fake + value[position + 1 :]
    raise AssertionError(f"no {name} look-alike for {value!r}")


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_look_alike_account_and_invoice_numbers_match_nothing(api: Api, name: str) -> None:
    for account, invoice in (
        (look_alike("ACCT-1001", name), "INV-1001-1"),
        ("ACCT-1001", look_alike("INV-1001-1", name)),
    ):
        answer = api.send("POST", "/payments", data=payment_body(account, invoice))
        refused(answer, 404, 422)
    unlink = api.send("DELETE", "/registrations/" + quote(look_alike("ACCT-1001", name), safe=""))
    refused(unlink, 404, 422)
    for account, invoice in (
        (look_alike("ACCT-1001", name), "INV-1001-1"),
        ("ACCT-1001", look_alike("INV-1001-1", name)),
    ):
        refused(api.send("GET", bill_path(account, invoice), content_type=None), 404, 422)


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_look_alike_registration_values_and_accounts_match_nothing(api: Api, name: str) -> None:
    sub = f"lookalike-{name}"
    for account, value in (
        ("ACCT-3001", look_alike("3001-REG", name)),
        (look_alike("ACCT-3001", name), "3001-REG"),
    ):
        answer = api.send("POST", "/registrations", sub=sub, data=registration_body(account, value))
        if answer.status_code == 422:
            continue  # not an account number at all
        assert answer.status_code == 200, answer.text
        assert [(a["outcome"], a.get("reason")) for a in answer.json()["accounts"]] == [
            ("REJECTED", "not_found_or_mismatch")
        ]
    assert refused(api.send("GET", "/accounts", sub=sub), 403)["error"] == "registration_required"


def bill_path(account: str, invoice: str) -> str:
    return f"/accounts/{quote(account, safe='')}/invoices/{quote(invoice, safe='')}/statement"


# Account or invoice numbers in a bill's path (DESIGN §6g), as sent (already %-encoded where it says):
# path steps, encoded slashes and dots, sizes past the identifier's, key syntax, control characters.
HOSTILE_PATH_PARTS = {
    "dot-dot": "..",
    "dot": ".",
    "encoded-slash-to-another-account": "ACCT-1001%2F..%2FACCT-2001",
    "encoded-dot-dot": "%2e%2e",
    "double-encoded": "%252e%252e%252f",
    "backslashes": "..%5C..%5Cstatements",
    "too-long": "A" * 65,
    "huge": "A" * 4000,
    "null-byte": "ACCT-1001%00",
    "newline": "ACCT-1001%0d%0aX-Injected:%201",
    "full-width": quote("ACCT-１００１"),
    "wildcard": "*",
    "key-syntax": quote("ACCOUNT#ACCT-1001"),
    "statement-name": quote("2026-11/INV-1001-1.pdf", safe=""),
    "sql-ish": quote("' OR '1'='1"),
    "percent": "%25",
    "leading-space": "%20ACCT-2001",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PATH_PARTS))
def test_hostile_numbers_in_a_bills_path_open_nothing(api: Api, name: str) -> None:
    """Never a 5xx, never a URL: a 404 (the function's, or the gateway's for a path that matches no
    route) or a 422 (longer than an identifier may be); alice's own bills stay hers alone."""
    part = HOSTILE_PATH_PARTS[name]
    for path in (
        f"/accounts/{part}/invoices/INV-1001-1/statement",
        f"/accounts/ACCT-1001/invoices/{part}/statement",
        f"/accounts/{part}/invoices/{part}/statement",
    ):
        answer = api.send("GET", path, content_type=None)
        assert answer.status_code in (404, 422), (path, answer.status_code, answer.text[:200])
        assert answer.headers.get("Cache-Control") == "no-store"
        assert "url" not in answer.text and "X-Amz" not in answer.text
        if answer.json().get("error"):  # the function's own answer (the gateway's 404 has none)
            # not_found: the resolver's own route pattern refuses the characters (a backslash)
            assert answer.json()["error"] in ("statement_not_found", "validation_error", "not_found"), answer.text


# "." and ".." would be resolved by the client before it sends anything (to the portal's own pages).
@pytest.mark.parametrize("name", sorted(set(HOSTILE_PATH_PARTS) - {"dot", "dot-dot"}))
def test_hostile_statement_link_tokens_open_nothing(api: Api, name: str) -> None:
    """No JWT on this route: the token is all. Links are off in this sandbox, and every token, whatever
    it holds, is refused (or matches no route)."""
    answer = api.send("GET", f"/statement-links/{HOSTILE_PATH_PARTS[name]}", sub=None, content_type=None)
    assert answer.status_code in (403, 404), (answer.status_code, answer.text[:200])
    assert "Location" not in answer.headers and "X-Amz" not in answer.text


def test_the_real_values_still_match_after_every_look_alike(api: Api) -> None:
    """The control: the same user, the same account, the exact value links (so the look-alike tests
    above would have seen a match had there been one); NFKC forms and spacing are the same value."""
    sub = "lookalike-control"
    answer = api.send("POST", "/registrations", sub=sub, data=registration_body("ACCT-3001", " ３００１ reg "))
    assert answer.status_code == 200 and answer.json()["accounts"][0]["outcome"] == "LINKED", answer.text
    started = api.send("POST", "/payments", data=payment_body("ACCT-1001", "INV-1001-1"))
    assert started.status_code in (200, 201), started.text
    bill = api.send("GET", bill_path("ACCT-1001", "INV-1001-1"), content_type=None)
    assert bill.status_code == 200 and "/statements/" in bill.json()["url"], bill.text


# ---- headers ------------------------------------------------------------------------------------


def api_answers(api: Api) -> dict[str, requests.Response]:
    """One answer of each kind the gateway gives: every status the functions and the gateway itself use."""
    oversized = padded_to(LIMIT + 1)
    return {
        "200 function": api.send("GET", "/payments", content_type=None),
        "201 function": api.send("POST", "/payments", sub="bob", data=payment_body("ACCT-2001", "INV-2001-1")),
        "400 guard": api.send("POST", "/payments", data=b"{"),
        "401 gateway, no token": api.send("GET", "/accounts", sub=None, content_type=None),
        "401 gateway, bad token": api.send(
            "GET", "/accounts", sub=None, content_type=None, headers={"Authorization": "Bearer a.b.c"}
        ),
        "403 function": api.send("GET", "/accounts", sub="nobody", content_type=None),
        "403 postback": api.send("POST", "/postback/p-1/v2.x", sub=None, data=b"a=b", content_type=None),
        "403 statement link": api.send("GET", "/statement-links/v1.x.y", sub=None, content_type=None),
        "404 function": api.send("GET", "/payments/nope", content_type=None),
        "404 gateway": api.send("POST", "/nowhere", sub=None, content_type=None),
        "404 gateway, GET": api.send("GET", "/no/such/file.js", sub=None, content_type=None),
        "413 guard": api.send("POST", "/registrations", data=oversized),
        "415 guard": api.send("POST", "/registrations", data=b"{}", content_type="text/plain"),
        "422 validation": api.send("POST", "/registrations", data=b"{}"),
        "200 openapi": api.send("GET", "/openapi.json", sub=None, content_type=None),
        "200 dev token": api.send("GET", "/dev/token?sub=x", sub=None, content_type=None),
        "204 preflight": requests.options(
            f"{api.base}/payments",
            headers={"Origin": api.base, "Access-Control-Request-Method": "POST"},
            timeout=10,
        ),
    }


def test_every_api_answer_says_no_store_and_nosniff(api: Api) -> None:
    answers = api_answers(api)
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {name: int(name.split()[0]) for name in answers}
    for name, answer in answers.items():
        assert answer.headers.get("Cache-Control") == "no-store", name
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", name


def html_pages(api: Api) -> dict[str, requests.Response]:
    """Every HTML page the sandbox serves: the portal's, and the simulator's along a payment."""
    simulator = api.sandbox.simulator_url
    pages: dict[str, requests.Response] = {
        "portal index": requests.get(f"{api.base}/", timeout=10),
        "portal index.html": requests.get(f"{api.base}/index.html", timeout=10),
        "simulator index": requests.get(f"{simulator}/", timeout=10),
        "simulator unknown session": requests.get(f"{simulator}/cloudpayments/nope", timeout=10),
        "simulator unknown path": requests.get(f"{simulator}/nowhere", timeout=10),
        "simulator wrong method": requests.put(f"{simulator}/", timeout=10),
        "simulator customer's bills": requests.get(f"{simulator}/portal/accounts/ACCT-1001", timeout=10),
        "simulator customer's bills, unknown": requests.get(f"{simulator}/portal/accounts/nope", timeout=10),
    }
    started = api.send("POST", "/payments", sub="alice", data=payment_body("ACCT-1002", "INV-1002-1"))
    assert started.status_code in (200, 201), started.text
    url = started.json()["paymentUrl"]
    browser = requests.Session()
    pages["hosted account"] = browser.get(url, timeout=10)
    pages["hosted invoices"] = browser.post(f"{url}/account", timeout=10)
    pages["hosted billing"] = browser.post(f"{url}/invoices", data={"action": "continue"}, timeout=10)
    pages["hosted billing, errors"] = browser.post(f"{url}/billing", data={"name": ""}, timeout=10)
    pages["hosted payment"] = browser.get(f"{url}/payment", timeout=10)
    pages["hosted payment, declined"] = browser.post(
        f"{url}/payment",
        data={
            "method": "CARD",
            "card_number": "4000000000000002",
            "expiry": "12/39",
            "cvv": "123",
            "name_on_card": "A",
        },
        timeout=30,
    )
    pages["hosted receipt"] = browser.post(
        f"{url}/payment",
        data={
            "method": "CARD",
            "card_number": "4111111111111111",
            "expiry": "12/39",
            "cvv": "123",
            "name_on_card": "A",
        },
        timeout=30,
    )
    requests.post(f"{simulator}/_sim/config", json={"apiFault": "503", "apiFaultCount": 1}, timeout=10)
    pages["simulator load balancer error"] = requests.post(f"{simulator}/cloudpaymentsapi/v2", json={}, timeout=10)
    requests.post(f"{simulator}/_sim/config", json={"apiFault": None, "apiFaultCount": 0}, timeout=10)
    return pages


def test_every_html_page_carries_a_csp_with_frame_ancestors_nosniff_and_a_referrer_policy(api: Api) -> None:
    pages = html_pages(api)
    for name, page in pages.items():
        assert page.headers.get("Content-Type", "").startswith("text/html"), (name, page.status_code, page.headers)
        policy = page.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy, (name, policy)
        assert page.headers.get("X-Content-Type-Options") == "nosniff", name
        assert page.headers.get("Referrer-Policy") == "no-referrer", name
        assert page.headers.get("Cache-Control") == "no-store", name
    assert "Print receipt" in pages["hosted receipt"].text  # the walk reached the receipt
    assert pages["hosted payment, declined"].status_code < 500
    assert {pages[name].status_code for name in ("simulator unknown session", "simulator unknown path")} == {404}


def test_the_portal_policy_still_allows_its_own_scripts_and_styles(api: Api) -> None:
    """The policy is the portal's own: same-origin scripts and styles, nothing inline, no framing."""
    page = requests.get(f"{api.base}/", timeout=10)
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in page.headers["Content-Security-Policy"].split(";")
        if directive.strip()
    }
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for asset, kind in (("js/app.js", "text/javascript"), ("styles.css", "text/css")):
        answer = requests.get(f"{api.base}/{asset}", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(kind), asset
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
