"""Invoice Cloud's balance refresh without, with a wrong, and with a replayed credential, in each scheme
(DESIGN §3, docs/refresh.md), through the function as API Gateway calls it: every refusal is the same
401, whatever the account; a signed call is good once; a static credential ends with its rotation."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest

from stackdef import caches
from tests.helpers import Stack, add_account, add_invoice, invoke, refresh_event, refresh_headers

SCHEMES = ("basic", "header", "hmac")


@pytest.fixture
def scheme(request: pytest.FixtureRequest, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("IC_REFRESH_AUTH", request.param)
    caches.reset()
    add_account("R-2", name="Pat Payer", email="pat@example.com")
    add_invoice("R-2", "I-1", "30.00")
    yield request.param
    caches.reset()


def call(account: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
    answer = invoke("refresh_balances", refresh_event(account, headers))
    return answer.status, answer.headers, answer.body


def wrong_credentials(stack: Stack, scheme: str) -> list[dict[str, str]]:
    """Credentials that are not the stack's, in the scheme's own shape, and the other schemes' right ones."""
    others = [refresh_headers(stack, "R-2", scheme=other) for other in SCHEMES if other != scheme]
    if scheme == "basic":
        own = [
            refresh_headers(stack, "R-2", secret="w" * 48),
            refresh_headers(stack, "R-2", username="admin"),
            {"Authorization": "Basic " + base64.b64encode(b"invoicecloud:").decode()},
        ]
    elif scheme == "header":
        own = [refresh_headers(stack, "R-2", scheme="header", secret="w" * 48), {"X-Api-Key": ""}]
    else:
        good = refresh_headers(stack, "R-2", scheme="hmac")
        own = [
            refresh_headers(stack, "R-2", scheme="hmac", secret="w" * 48),
            {**good, "X-IC-Signature": good["X-IC-Signature"][:-2] + "AA"},
            {key: value for key, value in good.items() if key != "X-IC-Nonce"},
        ]
    return own + others


@pytest.mark.parametrize("scheme", SCHEMES, indirect=True)
def test_without_or_with_a_wrong_credential_every_answer_is_the_same_401(stack: Stack, scheme: str) -> None:
    without = call("R-2", {})
    assert without[0] == 401 and json.loads(without[2])["error"] == "unauthorized"
    for headers in wrong_credentials(stack, scheme):
        assert call("R-2", headers) == without, (scheme, sorted(headers))
    # An unknown account answers a stranger exactly like a known one: nothing tells what exists.
    assert call("R-404", {}) == without
    assert call("R-2", refresh_headers(stack, "R-2", scheme=scheme))[0] == 200


@pytest.mark.parametrize("scheme", ["hmac"], indirect=True)
def test_a_replayed_signed_call_is_refused_and_a_fresh_one_is_not(stack: Stack, scheme: str) -> None:
    captured = refresh_headers(stack, "R-2", scheme="hmac")
    assert call("R-2", captured)[0] == 200
    for _ in range(3):
        assert call("R-2", captured)[0] == 401
    assert call("R-2", refresh_headers(stack, "R-2", scheme="hmac"))[0] == 200


@pytest.mark.parametrize("scheme", ["basic", "header"], indirect=True)
def test_a_replayed_static_credential_is_refused_once_rotated_out(stack: Stack, scheme: str) -> None:
    """A static credential cannot tell a replay from a new call (docs/refresh.md): what ends a captured one
    is the rotation. The retired secret, replayed, is refused like any wrong one."""
    captured = refresh_headers(stack, "R-2", scheme=scheme)
    assert call("R-2", captured)[0] == 200
    rotated = {"username": "invoicecloud", "secret": "r" * 48}
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.names.refresh_secret_name, SecretString=json.dumps(rotated)
    )
    caches.reset()  # the functions' cache of the secret (five minutes in Lambda)
    assert call("R-2", captured) == call("R-2", {})
    assert call("R-2", refresh_headers(stack, "R-2", scheme=scheme, secret="r" * 48))[0] == 200
