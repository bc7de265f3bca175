"""The sandbox's gateway behaves as API Gateway's HTTP API would: template routes, JWT checks, CORS,
the OpenAPI document; and /dev/* exists only here."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jwt
import pytest
import requests

from sandbox.issuer import LocalIssuer
from sandbox.runner import Sandbox, SandboxPorts
from stackdef.template import ROOT, function_specs

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free())
    running.start()
    yield running
    running.stop()


def get(sandbox: Sandbox, path: str, token: str | None = None, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{sandbox.gateway_url}{path}", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_a_valid_token_reaches_the_function_with_the_claims(sandbox: Sandbox) -> None:
    assert sandbox.issuer is not None
    answer = get(sandbox, "/payments", sandbox.issuer.issue("alice"))
    assert answer.status_code == 200 and answer.json() == {"payments": []}


@pytest.mark.parametrize(
    "case", ["none", "not-bearer", "garbage", "expired", "other-key", "other-audience", "other-issuer"]
)
def test_the_jwt_authorizer_refuses(sandbox: Sandbox, case: str) -> None:
    issuer = sandbox.issuer
    assert issuer is not None
    stranger = LocalIssuer(issuer.issuer)
    tokens = {
        "none": None,
        "garbage": "abc.def.ghi",
        "expired": issuer.issue("alice", lifetime=-60),
        "other-key": stranger.issue("alice"),
        "other-audience": LocalIssuer(issuer.issuer, audience="someone-else").issue("alice"),
        "other-issuer": LocalIssuer("https://evil.example/").issue("alice"),
    }
    if case == "not-bearer":
        answer = requests.get(f"{sandbox.gateway_url}/payments", headers={"Authorization": "Basic YTpi"}, timeout=10)
    else:
        answer = get(sandbox, "/payments", tokens[case])
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"


def test_token_claims_are_what_the_portal_gets(sandbox: Sandbox) -> None:
    answer = requests.get(f"{sandbox.gateway_url}/dev/token", params={"sub": "carol"}, timeout=10).json()
    claims = jwt.decode(answer["token"], options={"verify_signature": False})
    assert (claims["sub"], claims["email"], claims["email_verified"]) == ("carol", "carol@example.com", True)
    assert claims["iss"] == f"{sandbox.gateway_url}/dev" and claims["exp"] > claims["iat"]


def test_dev_token_needs_a_sub(sandbox: Sandbox) -> None:
    assert requests.get(f"{sandbox.gateway_url}/dev/token", timeout=10).status_code == 400


def test_the_postback_route_has_no_jwt_and_reaches_its_function(sandbox: Sandbox) -> None:
    answer = requests.post(f"{sandbox.gateway_url}/postback/abc/v2.bad", data={"PaymentGUID": "g"}, timeout=10)
    assert answer.status_code == 403 and answer.json()["error"] == "invalid_token"
    # Without a token in the path there is no such route (API Gateway answers 404 itself).
    assert requests.post(f"{sandbox.gateway_url}/postback/abc", data={}, timeout=10).status_code == 404


def test_unknown_routes_and_methods_are_404(sandbox: Sandbox) -> None:
    assert requests.delete(f"{sandbox.gateway_url}/payments", timeout=10).status_code == 404
    assert requests.post(f"{sandbox.gateway_url}/nowhere", timeout=10).status_code == 404


def test_cors_preflight_for_the_portal_origin(sandbox: Sandbox) -> None:
    answer = requests.options(
        f"{sandbox.gateway_url}/payments",
        headers={
            "Origin": sandbox.gateway_url,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
        timeout=10,
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == sandbox.gateway_url
    assert set(answer.headers["Access-Control-Allow-Headers"].split(",")) == {
        "authorization",
        "content-type",
        "idempotency-key",
    }
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]


def test_cors_refuses_other_origins(sandbox: Sandbox) -> None:
    answer = requests.options(
        f"{sandbox.gateway_url}/payments",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert sandbox.issuer is not None
    simple = requests.get(
        f"{sandbox.gateway_url}/payments",
        headers={"Origin": "https://evil.example", "Authorization": f"Bearer {sandbox.issuer.issue('alice')}"},
        timeout=10,
    )
    assert simple.status_code == 200 and "Access-Control-Allow-Origin" not in simple.headers


def test_every_template_route_is_served(sandbox: Sandbox) -> None:
    served = {route.route_key for spec in function_specs() for route in spec.routes}
    assert {
        "POST /payments",
        "GET /payments",
        "GET /payments/{paymentId}",
        "POST /postback/{paymentId}/{token}",
    } <= served
    for key in served:
        method, path = key.split(" ")
        url = sandbox.gateway_url + path.replace("{paymentId}", "p-1")
        answer = requests.request(method, url, timeout=10)
        assert answer.status_code in (401, 403), key  # reached the authorizer or the function, not a 404


def test_openapi_document_is_served_and_matches_the_committed_one(sandbox: Sandbox) -> None:
    served = get(sandbox, "/openapi.json").json()
    assert served == json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert {"/payments", "/payments/{paymentId}", "/postback/{paymentId}/{token}"} <= set(served["paths"])
