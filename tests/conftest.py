"""Shared fixtures: moto (serialized like DynamoDB), the stack made from template.yaml, the Invoice
Cloud simulator on a free port, and Lambda-style invocation of the functions."""

from __future__ import annotations

import os

# Before anything imports the layer, as in Lambda, where the template sets them first: metrics made
# at import read their namespace then (and flush on their own after 100 metrics in a long run).
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Avocette")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from avocette import clock
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from sandbox.invoicecloud import InvoiceCloudSimulator
from sandbox.serving import RunningServer, start_server
from sandbox.stack import StackNames, StackSecrets, environment, provision
from stackdef import caches
from tests.environment import MISSING
from tests.fakes import recording
from tests.helpers import Stack
from tests.security.leaks import LogCapture

os.environ.setdefault("SAM_CLI_TELEMETRY", "0")

_MOTO_LOCK = threading.RLock()


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[tuple[InvoiceCloudSimulator, RunningServer]]:
    """One simulator for the session (reset before each test that uses it)."""
    secrets = StackSecrets()
    simulator = InvoiceCloudSimulator(
        api_key=secrets.ic_api_key,
        biller_guid=secrets.biller_guid,
        web_service_key=secrets.web_service_key,
        clock=clock.utc_now,  # the functions' clock, as in the sandbox (tests may move it)
    )
    server = start_server(simulator, 0, name="ic-test")
    simulator.base_url = server.url
    yield simulator, server
    server.stop()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process. DynamoDB applies each request atomically; moto does not (a cancelled
    transaction restores a copy of the whole table), so requests are serialized here, as DynamoDB
    would serialize them, and the tests exercise our own concurrency, not moto's."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    original = BotocoreStubber.process_request

    def serialized(self: BotocoreStubber, request: Any) -> Any:
        with _MOTO_LOCK:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", serialized)
    with mock_aws():
        caches.reset()
        yield
    caches.reset()


@pytest.fixture
def stack(
    aws: None, monkeypatch: pytest.MonkeyPatch, simulator_server: tuple[InvoiceCloudSimulator, RunningServer]
) -> Iterator[Stack]:
    """Tables and secrets from template.yaml, the functions' environment, and a reset simulator."""
    simulator, server = simulator_server
    values = StackSecrets(
        ic_api_key=simulator.api_key, biller_guid=simulator.biller_guid, web_service_key=simulator.web_service_key
    )
    names = StackNames()
    resources = provision(names, values, sender_email="billing@avocette.test")
    api_base = "https://api.avocette.test"
    env = environment(
        resources,
        {
            "JwtIssuer": "https://login.avocette.test/",
            "JwtAudience": "avocette-portal",
            "CorsAllowOrigins": "https://portal.avocette.test",
            "InvoiceCloudBaseUrl": server.url,
            "InvoiceCloudPaymentUrlPrefixes": server.url + "/",
            "InvoiceCloudCustomerPortalUrl": server.url + "/portal/",
            "PublicApiBaseUrl": api_base,
            "PortalReturnUrl": "https://portal.avocette.test/#/return/{paymentId}",
            # The simulator's PaymentTypeID values (the real ones are an open question, DESIGN §4a).
            "InvoiceCloudPaymentTypeIds": '{"1": "CARD", "2": "ACH"}',
            "SenderEmail": "billing@avocette.test",
        },
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    simulator.reset()
    simulator.update_config({"postbackRetryDelaySeconds": 0.05})
    caches.reset()
    yield Stack(names=names, secrets=values, env=env, simulator=simulator, simulator_url=server.url, api_base=api_base)
    simulator.reset()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """With DYNAMODB_RECORD=path, every request the store's DynamoDB client sends is appended to
    ``path``, tagged with the test (tests/fakes/recording.py; ``make dynamodb-corpus``)."""
    recording.begin(item.nodeid)


@pytest.fixture(scope="session", autouse=True)
def log_capture() -> Iterator[LogCapture]:
    """Every log record of the run (the sandbox's worker output too); the run fails at its end if one
    holds a postback token, a secret, a JWT, a registration value, a payer's details or a raw account number
    (docs/security.md)."""
    with LogCapture.installed() as capture:
        yield capture
        leaks = capture.leaks()
    assert not leaks, f"{len(leaks)} log lines hold what must never be logged:\n" + "\n".join(leaks[:20])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly what was skipped for want of something on this machine."""
    if not MISSING:
        return
    terminalreporter.section("SKIPPED FOR WANT OF TOOLS ON THIS MACHINE", sep="!", red=True, bold=True)
    for message in sorted(set(MISSING)):
        terminalreporter.line(f"  - {message}", red=True, bold=True)
    terminalreporter.line("  These tests run (and must pass) in CI; see README.md to run them here.", red=True)
