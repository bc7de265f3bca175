"""The authorization matrix: every portal route, for several users, against every kind of object
(account, invoice, bill, payment, registration link, idempotency key, list cursor). A user reaches their
own objects only; another user's object answers byte-for-byte like one that does not exist (the
same status, headers and body), so that no answer tells a stranger what exists."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import (
    HttpResult,
    Stack,
    add_account,
    add_invoice,
    get_statement,
    http_event,
    invoke,
    put_statement,
    start_payment,
    table_items,
)

USERS = ("alice", "bob", "carol")


@dataclass(frozen=True)
class Owned:
    """What one user owns: two linked accounts with an invoice each, a payment, an idempotency key."""

    sub: str
    accounts: tuple[str, str]
    invoices: tuple[str, str]
    payment_id: str
    idempotency_key: str


def call(sub: str, method: str, path: str, **options: Any) -> HttpResult:
    routes = {
        ("GET", "/accounts"): ("accounts", "/accounts"),
        ("GET", "/payments"): ("payments", "/payments"),
        ("POST", "/payments"): ("start_payment", "/payments"),
        ("GET", "/payments/"): ("payments", "/payments/{paymentId}"),
        ("GET", "/registrations"): ("register_user", "/registrations"),
        ("POST", "/registrations"): ("register_user", "/registrations"),
        ("DELETE", "/registrations/"): ("register_user", "/registrations/{accountNumber}"),
    }
    prefix = path if (method, path) in routes else path[: path.rindex("/") + 1]
    function, route = routes[(method, prefix)]
    parameters = None
    if route.endswith("}"):
        name = route[route.rindex("{") + 1 : -1]
        parameters = {name: path[len(prefix) :]}
    event = http_event(method, path, route=route, path_parameters=parameters, sub=sub, **options)
    return invoke(function, event)


def same_answer(first: HttpResult, second: HttpResult) -> bool:
    return (first.status, first.headers, first.body) == (second.status, second.headers, second.body)


@pytest.fixture
def world(stack: Stack) -> dict[str, Owned]:
    owned: dict[str, Owned] = {}
    for number, sub in enumerate(USERS, start=1):
        accounts = (f"ACCT-{number}01", f"ACCT-{number}02")
        invoices = (f"INV-{number}01-1", f"INV-{number}02-1")
        for account, invoice in zip(accounts, invoices, strict=True):
            add_account(account, name=f"Payer {sub}", linked_to=(sub,), registration_value=f"{account}-REG")
            add_invoice(account, invoice, "40.00", statement_file=f"{invoice}.pdf")
            put_statement(stack, f"{invoice}.pdf")
        key = f"key-{sub}"
        started = start_payment(sub, [(accounts[0], invoices[0])], key=key)
        assert started.status == 201, started.body
        owned[sub] = Owned(sub, accounts, invoices, str(started.json["paymentId"]), key)
    # An account nobody is linked to, with an invoice: "exists, but not yours" for everyone.
    add_account("ACCT-900", registration_value="ACCT-900-REG")
    add_invoice("ACCT-900", "INV-900-1", "15.00", statement_file="INV-900-1.pdf")
    put_statement(stack, "INV-900-1.pdf")
    return owned


def pairs() -> list[tuple[str, str]]:
    return [(user, other) for user in USERS for other in USERS if user != other]


def test_another_users_payment_answers_like_a_missing_one(world: dict[str, Owned]) -> None:
    for user, other in pairs():
        _payment(world, user, other)


def _payment(world: dict[str, Owned], user: str, other: str) -> None:
    own = call(user, "GET", f"/payments/{world[user].payment_id}")
    assert own.status == 200 and own.json["paymentId"] == world[user].payment_id
    theirs = call(user, "GET", f"/payments/{world[other].payment_id}")
    missing = call(user, "GET", "/payments/00000000-0000-4000-8000-000000000000")
    assert theirs.status == 404 and same_answer(theirs, missing), (theirs.body, missing.body)
    assert world[other].payment_id not in theirs.body


def test_another_users_invoice_answers_like_a_missing_one(stack: Stack, world: dict[str, Owned]) -> None:
    before = table_items(stack)
    for user, other in pairs():
        _invoice(world, user, other)
    assert table_items(stack) == before  # nothing held, nothing started


def _invoice(world: dict[str, Owned], user: str, other: str) -> None:
    theirs_account, theirs_invoice = world[other].accounts[1], world[other].invoices[1]
    mine_account = world[user].accounts[1]
    cases = {
        "their account and invoice": [(theirs_account, theirs_invoice)],
        "my account, their invoice number": [(mine_account, theirs_invoice)],
        "their account, an unknown invoice": [(theirs_account, "INV-000-1")],
        "an unlinked account's invoice": [("ACCT-900", "INV-900-1")],
        "mine and theirs together": [(mine_account, world[user].invoices[1]), (theirs_account, theirs_invoice)],
    }
    missing = start_payment(user, [("ACCT-000", "INV-000-1")])
    assert missing.status == 404 and missing.json["error"] == "invoice_not_found"
    for name, invoices in cases.items():
        answer = start_payment(user, invoices)
        assert same_answer(answer, missing), (user, other, name, answer.status, answer.body)


def test_another_users_bill_answers_like_a_missing_one(stack: Stack, world: dict[str, Owned]) -> None:
    """GET /accounts/{accountNumber}/invoices/{invoiceNumber}/statement: the caller's link first, so
    that another payer's bill, one on an account nobody linked, and one that does not exist answer the
    same 404, byte for byte, and nothing is presigned for them."""
    before = table_items(stack)
    for user, other in pairs():
        _bill(world, user, other)
    assert table_items(stack) == before


def _bill(world: dict[str, Owned], user: str, other: str) -> None:
    mine, theirs = world[user], world[other]
    own = get_statement(user, mine.accounts[0], mine.invoices[0])
    assert own.status == 200 and own.json["url"].split("?")[0].endswith(f"/statements/{mine.invoices[0]}.pdf")
    missing = get_statement(user, "ACCT-000", "INV-000-1")
    assert missing.status == 404 and missing.json["error"] == "statement_not_found"
    cases = {
        "their account and invoice": (theirs.accounts[0], theirs.invoices[0]),
        "my account, their invoice number": (mine.accounts[0], theirs.invoices[0]),
        "their account, my invoice number": (theirs.accounts[0], mine.invoices[0]),
        "their account, an unknown invoice": (theirs.accounts[0], "INV-000-1"),
        "an unlinked account's bill": ("ACCT-900", "INV-900-1"),
        "my account, an unknown invoice": (mine.accounts[0], "INV-000-1"),
    }
    for name, (account, invoice) in cases.items():
        answer = get_statement(user, account, invoice)
        assert same_answer(answer, missing), (user, other, name, answer.status, answer.body)
    # Their own bill is still theirs.
    assert get_statement(other, theirs.accounts[0], theirs.invoices[0]).status == 200


def test_another_users_idempotency_key_is_theirs_alone(world: dict[str, Owned]) -> None:
    """The same key from another user is another request: it neither replays nor blocks theirs (the
    key's owner still gets their own payment back)."""
    for user, other in pairs():
        _idempotency(world, user, other)


def _idempotency(world: dict[str, Owned], user: str, other: str) -> None:
    mine = world[user]
    answer = start_payment(user, [(mine.accounts[1], mine.invoices[1])], key=world[other].idempotency_key)
    # A payment of the user's own (new, or their session still open from the pair before): never theirs.
    assert answer.status in (200, 201), answer.body
    assert answer.json["paymentId"] not in {owned.payment_id for owned in world.values()}
    assert call(user, "GET", f"/payments/{answer.json['paymentId']}").status == 200
    again = start_payment(
        other, [(world[other].accounts[0], world[other].invoices[0])], key=world[other].idempotency_key
    )
    assert again.status in (200, 201) and again.json["paymentId"] == world[other].payment_id, again.body


def test_another_users_registration_link_answers_like_a_missing_one(world: dict[str, Owned]) -> None:
    for user, other in pairs():
        _link(world, user, other)


def _link(world: dict[str, Owned], user: str, other: str) -> None:
    theirs = call(user, "DELETE", f"/registrations/{world[other].accounts[0]}")
    missing = call(user, "DELETE", "/registrations/ACCT-000")
    unlinked = call(user, "DELETE", "/registrations/ACCT-900")
    assert theirs.status == 404 and same_answer(theirs, missing) and same_answer(unlinked, missing)
    # Their link is still there.
    assert world[other].accounts[0] in call(other, "GET", "/registrations").body


def test_registering_another_users_account_without_its_value_answers_like_an_unknown_account(
    world: dict[str, Owned],
) -> None:
    for user, other in pairs():
        _register(world, user, other)


def _register(world: dict[str, Owned], user: str, other: str) -> None:
    def register(account: str, value: str) -> HttpResult:
        body = {"accounts": [{"accountNumber": account, "registrationValue": value}]}
        return call(user, "POST", "/registrations", body=body)

    theirs = register(world[other].accounts[1], "WRONG-VALUE")
    unknown = register("ACCT-000", "WRONG-VALUE")
    assert theirs.status == unknown.status == 200
    assert theirs.body.replace(world[other].accounts[1], "ACCT-000") == unknown.body
    assert theirs.json["accounts"][0]["outcome"] == "REJECTED"


def test_every_list_shows_only_the_users_own_objects(world: dict[str, Owned]) -> None:
    for user in USERS:
        _lists(world, user)


def _lists(world: dict[str, Owned], user: str) -> None:
    others = [owned for sub, owned in world.items() if sub != user]
    foreign = {
        value
        for owned in others
        for value in (*owned.accounts, *owned.invoices, owned.payment_id, owned.idempotency_key, f"Payer {owned.sub}")
    } | {"ACCT-900", "INV-900-1"}
    answers = {
        "GET /accounts": call(user, "GET", "/accounts"),
        "GET /payments": call(user, "GET", "/payments"),
        "GET /registrations": call(user, "GET", "/registrations"),
        f"GET /payments/{world[user].payment_id}": call(user, "GET", f"/payments/{world[user].payment_id}"),
    }
    for name, answer in answers.items():
        assert answer.status == 200, (name, answer.body)
        leaked = sorted(value for value in foreign if value in answer.body)
        assert not leaked, (name, leaked)
    mine = world[user]
    assert {a["accountNumber"] for a in answers["GET /accounts"].json["accounts"]} == set(mine.accounts)
    assert [p["paymentId"] for p in answers["GET /payments"].json["payments"]] == [mine.payment_id]
    assert set(mine.accounts) <= {a["accountNumber"] for a in answers["GET /registrations"].json["accounts"]}


def test_another_users_cursor_never_reaches_their_partition(world: dict[str, Owned]) -> None:
    # A second payment for each user, so that every list has a next page and a cursor.
    seconds = {}
    for sub, owned in world.items():
        second = start_payment(sub, [(owned.accounts[1], owned.invoices[1])])
        assert second.status == 201, second.body
        seconds[sub] = str(second.json["paymentId"])
    for user, other in pairs():
        _cursor(world, user, other, seconds[other])


def _cursor(world: dict[str, Owned], user: str, other: str, second: str) -> None:
    theirs = world[other]
    page = call(other, "GET", "/payments", query={"limit": "1"})
    cursor = page.json.get("nextCursor")
    assert page.status == 200 and cursor, page.body
    answer = call(user, "GET", "/payments", query={"limit": "1", "cursor": cursor})
    garbage = call(user, "GET", "/payments", query={"limit": "1", "cursor": "not-a-cursor"})
    assert answer.status in (200, 422), answer.body
    assert theirs.payment_id not in answer.body and second not in answer.body
    if answer.status == 422:
        assert same_answer(answer, garbage)


def test_a_user_with_no_links_sees_nothing_of_anyone(world: dict[str, Owned]) -> None:
    stranger = "mallory"
    assert call(stranger, "GET", "/accounts").json["error"] == "registration_required"
    assert call(stranger, "GET", "/payments").json == {"payments": []}
    registrations = call(stranger, "GET", "/registrations")
    assert registrations.status == 200 and json.loads(registrations.body)["accounts"] == []
    for owned in world.values():
        assert call(stranger, "GET", f"/payments/{owned.payment_id}").status == 404
        assert get_statement(stranger, owned.accounts[0], owned.invoices[0]).status == 404
        assert start_payment(stranger, [(owned.accounts[0], owned.invoices[0])]).status in (403, 404)


# ---- Invoice Cloud's balance refresh (GET /invoicecloud/accounts/{accountNumber}) ----------------------


def test_the_balance_refresh_answers_invoice_cloud_alone(stack: Stack, world: dict[str, Owned]) -> None:
    """The route is outside the portal's JWT: no portal user reaches it, their own accounts included, and
    every caller but Invoice Cloud gets the same bytes for an account of anyone's, of no one's, and for
    none at all. Invoice Cloud (its credential) reads any account's balances, never a payer's details."""
    from tests.helpers import refresh_event, refresh_headers

    accounts = {
        "alice's": world["alice"].accounts[0],
        "bob's": world["bob"].accounts[1],
        "no one's": "ACCT-900",
        "missing": "ACCT-000",
    }

    def jwt_of(sub: str) -> dict[str, str]:  # what a portal user could send: their bearer token
        return {"Authorization": f"Bearer eyJhbGciOiJSUzI1NiJ9.{sub}.signature"}

    callers: dict[str, Any] = {
        "nobody": lambda account: refresh_event(account, {}),
        "alice, signed in": lambda account: http_event(
            "GET", f"/invoicecloud/accounts/{account}", route="/invoicecloud/accounts/{accountNumber}",
            path_parameters={"accountNumber": account}, sub="alice", headers=jwt_of("alice"),
        ),
        "a wrong credential": lambda account: refresh_event(
            account, refresh_headers(stack, account, secret="w" * 48)
        ),
    }  # fmt: skip
    refused = invoke("refresh_balances", refresh_event("ACCT-000", {}))
    assert refused.status == 401
    for caller, event_for in callers.items():
        for whose, account in accounts.items():
            answer = invoke("refresh_balances", event_for(account))
            assert same_answer(answer, refused), (caller, whose, answer.status, answer.body)
    payer_details = [f"Payer {sub}" for sub in USERS] + ["pat@example.com", "1 Main St"]
    for whose, account in accounts.items():
        answer = invoke("refresh_balances", refresh_event(account, refresh_headers(stack, account)))
        if whose == "missing":
            assert answer.status == 404 and answer.json["error"] == "account_not_found"
            continue
        assert answer.status == 200 and answer.json["AccountNumber"] == account, (whose, answer.body)
        assert not [detail for detail in payer_details if detail in answer.body], (whose, answer.body)
        other_accounts = {a for owned in world.values() for a in owned.accounts} - {account}
        assert not [other for other in other_accounts if other in answer.body], (whose, answer.body)
