"""Contract fuzzing: schemathesis draws requests for every operation of the running sandbox's
``/openapi.json`` and sends them through the gateway with valid credentials (a bearer token from the
sandbox's issuer, the postback route's own token in the path, or Invoice Cloud's credential for the
balance refresh). Every answer must be documented:
never a 5xx, a status the operation declares, and a body that matches that status's schema.

``FUZZ_EXAMPLES`` requests per operation (``make fuzz`` runs 2,000)."""

from __future__ import annotations

import base64
import json
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from avocette.security import KeyRing
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from sandbox.runner import Sandbox
from stackdef.template import ROOT
from tests.security.conftest import dev_token, env_int

pytestmark = pytest.mark.sandbox

FUZZ_EXAMPLES = env_int("FUZZ_EXAMPLES", 25)
USERS = ("alice", "bob", "carol", "mallory")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def _operations() -> list[tuple[str, str]]:
    """Every operation of the committed document (the gateway tests prove the served one is the same)."""
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    return sorted((method.upper(), path) for path, item in document["paths"].items() for method in item)


@pytest.fixture(scope="module")
def schema(sandbox: Sandbox) -> Any:
    # The gateway builds the document on first use by importing every function: on a loaded machine that
    # outlasts schemathesis's 10 s, so it is built once here, without a hurry.
    requests.get(f"{sandbox.gateway_url}/openapi.json", timeout=120).raise_for_status()
    return schemathesis.openapi.from_url(f"{sandbox.gateway_url}/openapi.json")


@pytest.fixture(scope="module")
def tokens(sandbox: Sandbox) -> dict[str, str]:
    return {sub: dev_token(sandbox, sub) for sub in USERS}


@pytest.fixture(scope="module")
def real_payment_ids(sandbox: Sandbox, tokens: dict[str, str]) -> list[str]:
    """Payments that exist, so that drawn postbacks and reads reach real objects too, not only 404s."""
    started = requests.post(
        f"{sandbox.gateway_url}/payments",
        json={"invoices": [{"accountNumber": "ACCT-2001", "invoiceNumber": "INV-2001-1"}]},
        headers={"Authorization": f"Bearer {tokens['bob']}"},
        timeout=30,
    )
    assert started.status_code == 201, started.text
    return [str(started.json()["paymentId"])]


def test_the_fuzzed_operations_are_every_route_of_the_served_document(schema: Any) -> None:
    served = sorted((result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations())
    assert served == _operations()
    assert len(served) >= 8


@pytest.mark.parametrize(("method", "path"), _operations(), ids=str)
def test_every_answer_is_documented_and_never_a_server_error(
    sandbox: Sandbox,
    schema: Any,
    tokens: dict[str, str],
    real_payment_ids: list[str],
    record_property: Any,
    *,
    method: str,
    path: str,
) -> None:
    operation = schema[path][method]
    tried: list[int] = []

    # Valid requests, and requests the schema says are invalid (each must be refused with a 4xx).
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases, data=st.data())
    @hypothesis.settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any, data: st.DataObject) -> None:
        headers: dict[str, str] = {}
        if path.startswith("/postback/"):
            payment_id = str(case.path_parameters.get("paymentId", ""))
            if data.draw(st.booleans(), label="a real payment"):
                payment_id = data.draw(st.sampled_from(real_payment_ids))
                case.path_parameters["paymentId"] = payment_id
            ring = KeyRing.from_secret(sandbox.secrets.postback_keys)
            case.path_parameters["token"] = ring.postback_token(payment_id)
        elif path.startswith("/invoicecloud/"):  # Invoice Cloud's balance refresh: its own credential
            if data.draw(st.booleans(), label="a real account"):
                case.path_parameters["accountNumber"] = data.draw(st.sampled_from(["ACCT-1001", "ACCT-3002"]))
            credential = sandbox.secrets.refresh_credential
            pair = f"{credential['username']}:{credential['secret']}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            if "paymentId" in (case.path_parameters or {}) and data.draw(st.booleans(), label="a real payment"):
                case.path_parameters["paymentId"] = data.draw(st.sampled_from(real_payment_ids))
            user = data.draw(st.sampled_from(USERS), label="user")
            headers["Authorization"] = f"Bearer {tokens[user]}"
        response = case.call(base_url=sandbox.gateway_url, headers=headers, timeout=30)
        tried.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()
    record_property("requests", len(tried))
    record_property("statuses", sorted(set(tried)))
    print(f"{method} {path}: {len(tried)} requests, statuses {sorted(set(tried))}")  # noqa: T201 - the figures
    assert tried, "no request was sent"
