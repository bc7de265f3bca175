"""The hardening issue's findings, each through the functions as an attacker or a user would reach
them; every test here failed before its fix: hostile bodies, sizes in bytes, the postback token in
the path, links that follow their proof, and budgets strangers cannot spend for an account's owner."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from avocette import clock
from avocette.store import billing as billing_store

from tests.helpers import (
    AS_OF,
    Stack,
    add_account,
    add_invoice,
    approved_fields,
    http_event,
    invoke,
    postback_event,
    postback_token,
    start_payment,
    table_items,
)


@pytest.fixture
def one_invoice(stack: Stack) -> str:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "50.00")
    return str(start_payment("alice", [("A-1", "I-1")]).json["paymentId"])


def raw_postback(stack: Stack, payment_id: str, body: bytes, *, token: str | None) -> Any:
    event = postback_event(stack, payment_id, {}, token=token if token is not None else "")
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    event["headers"]["content-type"] = "application/octet-stream"
    return invoke("postback", event)


# ---- 1. a body that is not UTF-8 on the postback route -----------------------------------------------


def test_1_a_body_that_is_not_utf8_is_403_without_a_token_and_400_recorded_with_one(
    stack: Stack, one_invoice: str
) -> None:
    before = table_items(stack)
    refused = raw_postback(stack, one_invoice, b"\xff\xfe", token=None)
    assert (refused.status, refused.json["error"]) == (403, "invalid_token")
    assert table_items(stack) == before

    read = raw_postback(stack, one_invoice, b"\xff\xfe", token=postback_token(stack, one_invoice))
    assert (read.status, read.json["error"]) == (400, "invalid_postback")
    (record,) = [i for i in table_items(stack, f"PAYMENT#{one_invoice}") if str(i["SK"]).startswith("POSTBACK#")]
    assert record["outcome"] == "INVALID" and record["fields"] == {}


# ---- 2. malformed JSON on portal routes ----------------------------------------------------------


def _post(path: str, route: str, function: str, body: bytes, content_type: str = "application/json") -> Any:
    event = http_event("POST", path, route=route, sub="alice", body=None, headers={"content-type": content_type})
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    return invoke(function, event)


HOSTILE_BODIES = {
    "nesting-1000-deep": ("[" * 1000 + "]" * 1000).encode(),
    "a-5000-digit-integer": b'{"invoices": ' + b"9" * 5000 + b"}",
    "not-utf8": b'{"invoices": "\xff\xfe"}',
    "utf16": '{"invoices": []}'.encode("utf-16"),
    "nan": b'{"invoices": NaN}',
    "bom": b'\xef\xbb\xbf{"invoices": []}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize(("path", "function"), [("/payments", "start_payment"), ("/registrations", "register_user")])
def test_2_malformed_json_is_a_400_never_a_500(stack: Stack, name: str, path: str, function: str) -> None:
    before = table_items(stack)
    answer = _post(path, path, function, HOSTILE_BODIES[name])
    assert (answer.status, answer.json["error"]) == (400, "invalid_json"), answer.body
    assert table_items(stack) == before


@pytest.mark.parametrize(("path", "function"), [("/payments", "start_payment"), ("/registrations", "register_user")])
def test_2_a_form_body_without_a_boundary_is_415(stack: Stack, path: str, function: str) -> None:
    answer = _post(path, path, function, b"--x\r\n\r\n", content_type="multipart/form-data")
    assert (answer.status, answer.json["error"]) == (415, "unsupported_media_type")


# ---- media types in any case (RFC 9110: case-insensitive), with parameters ----------------------------

JSON_IN_ANY_CASE = ("APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/JSON;charset=utf-8")


@pytest.mark.parametrize("base64_body", [False, True])
@pytest.mark.parametrize("content_type", JSON_IN_ANY_CASE)
def test_application_json_in_any_case_is_read_on_portal_routes(
    stack: Stack, content_type: str, base64_body: bool
) -> None:
    add_account("A-1", linked_to=("alice",), registration_value="A1-REG")
    add_invoice("A-1", "I-1", "50.00")
    headers = {"content-type": content_type}
    body = {"invoices": [{"accountNumber": "A-1", "invoiceNumber": "I-1"}]}
    started = invoke(
        "start_payment", http_event("POST", "/payments", body=body, headers=headers, base64_body=base64_body)
    )
    assert started.status == 201, started.body
    body = {"accounts": [{"accountNumber": "A-1", "registrationValue": "A1-REG"}]}
    registered = invoke(
        "register_user", http_event("POST", "/registrations", body=body, headers=headers, base64_body=base64_body)
    )
    assert registered.status == 200, registered.body
    assert registered.json["accounts"][0]["outcome"] == "ALREADY_LINKED"


# ---- 3. the 64 KB limit counts bytes ---------------------------------------------------------------


def test_3_the_body_limit_counts_bytes_not_characters(stack: Stack) -> None:
    body = json.dumps({"invoices": [{"accountNumber": "€" * 60_000, "invoiceNumber": "I"}]}, ensure_ascii=False)
    assert len(body) < 64 * 1024 < len(body.encode())
    event = http_event("POST", "/payments", sub="alice", body=body)
    answer = invoke("start_payment", event)
    assert (answer.status, answer.json["error"]) == (413, "payload_too_large")
    assert answer.headers["Cache-Control"] == "no-store"


# ---- 6. the postback token in the path ---------------------------------------------------------------


def test_6_the_postback_url_carries_its_token_in_the_path_and_ic_fields_in_the_query_are_read(
    stack: Stack, one_invoice: str
) -> None:
    from avocette.store import payments as payments_store

    payment = payments_store.get_payment(one_invoice)
    assert payment is not None
    event = postback_event(stack, one_invoice, approved_fields(one_invoice, "50.00"), in_query=True)
    assert event["pathParameters"]["token"].startswith("v2.") and "token" not in (
        event.get("queryStringParameters") or {}
    )
    assert invoke("postback", event).status == 200


# ---- 8. links follow their proof ---------------------------------------------------------------


def register(sub: str, account: str, value: str) -> Any:
    body = {"accounts": [{"accountNumber": account, "registrationValue": value}]}
    return invoke("register_user", http_event("POST", "/registrations", sub=sub, body=body))


def accounts_of(sub: str) -> Any:
    return invoke("accounts", http_event("GET", "/accounts", sub=sub))


def test_8_when_an_account_changes_hands_the_old_links_go_and_a_user_can_unlink(stack: Stack) -> None:
    from avocette.service.billing_import import ImportRules, import_billing

    header = (
        "AccountNumber,Name,Address,City,State,Zip,EmailAddress,RegistrationValue,InvoiceNumber,TypeID,"
        "InvoiceDate,DueDate,BalanceDue,MinimumAmountDue,AllowPartialPayments,CCServiceFee,ACHServiceFee\n"
    )

    def billing(stamp: str, name: str, value: str) -> Any:
        row = f"ACCT-7,{name},1 Main St,Tampa,FL,33601,x@example.com,{value},INV-7,6,"
        row += "11/01/2026,12/01/2026,10.00,,false,,\n"
        return import_billing(iter([header, row]), rules=ImportRules.from_environment(), key=f"billing/{stamp}.csv")

    billing("20261101T060000Z", "Old Occupant", "OLD-VALUE")
    assert register("old", "ACCT-7", "OLD-VALUE").json["accounts"][0]["outcome"] == "LINKED"
    assert [a["name"] for a in accounts_of("old").json["accounts"]] == ["Old Occupant"]

    report = billing("20261102T060000Z", "New Occupant", "NEW-VALUE")

    assert report.accounts.links_removed == 1
    assert (accounts_of("old").status, accounts_of("old").json["error"]) == (403, "registration_required")
    assert register("new", "ACCT-7", "NEW-VALUE").json["accounts"][0]["outcome"] == "LINKED"
    assert register("old", "ACCT-7", "OLD-VALUE").json["accounts"][0]["outcome"] == "REJECTED"

    # A user can unlink an account; another user's link stays; no link answers like an unknown account.
    assert register("house", "ACCT-7", "NEW-VALUE").json["accounts"][0]["outcome"] == "LINKED"
    route = "/registrations/{accountNumber}"
    unlink = invoke("register_user", http_event("DELETE", "/registrations/ACCT-7", route=route, sub="new",
                                                  path_parameters={"accountNumber": "ACCT-7"}))  # fmt: skip
    assert unlink.status == 204
    assert accounts_of("new").status == 403 and accounts_of("house").status == 200
    again = invoke("register_user", http_event("DELETE", "/registrations/ACCT-7", route=route, sub="new",
                                                 path_parameters={"accountNumber": "ACCT-7"}))  # fmt: skip
    unknown = invoke("register_user", http_event("DELETE", "/registrations/ACCT-0", route=route, sub="new",
                                                   path_parameters={"accountNumber": "ACCT-0"}))  # fmt: skip
    assert again.status == unknown.status == 404 and again.json == unknown.json
    assert again.json["error"] == "account_not_found"


# ---- 9. budgets strangers cannot spend for the owner ---------------------------------------------


def test_9_strangers_cannot_lock_the_owner_out_and_the_users_window_slides(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_account("ACCT-8", registration_value="8-REG")
    add_invoice("ACCT-8", "INV-8", "10.00")
    for stranger in ("s1", "s2", "s3"):
        for _ in range(5):
            register(stranger, "ACCT-8", "WRONG")
    assert register("s1", "ACCT-8", "WRONG").status == 429
    # Thirty failures on the account today: its owner still links with the right value.
    assert register("owner", "ACCT-8", "8-REG").json["accounts"][0]["outcome"] == "LINKED"

    # The user's hour slides: five failures at 10:59 are still counted at 11:01.
    start = AS_OF.replace(hour=10, minute=59)
    moments = iter([start] * 5 + [start + timedelta(minutes=2)] * 2 + [start + timedelta(minutes=61)] * 2)
    monkeypatch.setattr(clock, "utc_now", lambda: next(moments))
    for _ in range(5):
        register("guesser", "ACCT-8", "WRONG")
    assert register("guesser", "ACCT-8", "8-REG").status == 429
    assert register("guesser", "ACCT-8", "8-REG").status == 429
    assert register("guesser", "ACCT-8", "8-REG").json["accounts"][0]["outcome"] == "LINKED"
    assert billing_store.get_account("ACCT-8") is not None
