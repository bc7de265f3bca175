"""The log capture (tests/conftest.py, session-wide) and its detector: this module proves the detector
finds each kind of thing that must never be logged, on a capture of its own (the session's stays
clean), and that the session's capture does see the functions' and the sandbox workers' lines.
Named to run last in this directory, after the suites whose logs it inspects."""

from __future__ import annotations

import logging

import pytest
from avocette.security import KeyRing

from sandbox.stack import StackSecrets
from tests.security.leaks import LogCapture, billing_account_numbers, billing_payer_details

SECRETS = StackSecrets()


@pytest.fixture
def private_capture() -> LogCapture:
    """A capture of this test's own, fed directly (see :func:`log_through`)."""
    capture = LogCapture()
    capture.secrets.update(SECRETS.all_values())
    return capture


def log_through(capture: LogCapture, message: str, *args: object, **extra: object) -> None:
    """A record handed to ``capture`` alone: no logger emits it, so the session's capture never sees it."""
    record = logging.LogRecord("tests.security.leak-probe", logging.INFO, __file__, 0, message, args, None)
    record.__dict__.update(extra)
    capture.handle(record)


TOKEN = KeyRing.from_secret(SECRETS.postback_keys).postback_token("f0525b38-0c1e-4f0e-9a55-5d2c7a1e3b11")
LINK = KeyRing.from_secret(SECRETS.statement_link_keys).signed_token(
    "statement", "WyJBQ0NULTEwMDEiLCJJTlYtMTAwMS0xIiwxXQ"
)
PRESIGNED = (
    "http://127.0.0.1:3002/avocette-inbound/statements/2026-11/INV-1001-1.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=sandbox%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=2eab45cf7c7e"
)
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("kind", "message", "args", "extra"),
    [
        ("postback token", "Postback for %s", (f"/postback/p-1/{TOKEN}",), {}),
        ("signed link", "Statement link %s", (f"/statement-links/{LINK}",), {}),
        ("presigned URL", "Bill at", (), {"url": PRESIGNED}),
        ("secret", "Loaded key %s", (SECRETS.statement_link_keys["keys"]["1"],), {}),
        ("secret", "IC answered", (), {"authorization": SECRETS.ic_api_key}),
        ("secret", "Loaded key %s", (SECRETS.postback_keys["keys"]["1"],), {}),
        ("secret", "hash key", (), {"detail": {"nested": [SECRETS.registration_hash_key]}}),
        ("JWT", "claims from %s", (JWT,), {}),
        ("bearer credential", "header Authorization: Basic aWMtc2VjcmV0LWtleS12YWx1ZQ==", (), {}),
        ("registration value", "Registration failed", (), {"value": "3001-reg"}),
        ("payer detail", "Customer %s", ("Alice Anders",), {}),
        ("payer detail", "to", (), {"email": "carol@example.com"}),
        ("payer detail", "address 12 Orchard Lane", (), {}),
        ("account number", "Invoice Cloud customer record created", (), {"account_number": "ACCT-1001"}),
        ("account number", "Invoice Cloud customer record unknown", (), {"account_number": "M-1"}),
        ("account number", "Read %s", ("ACCOUNT#A-1",), {}),
    ],
)
def test_the_detector_finds_each_kind(
    private_capture: LogCapture, kind: str, message: str, args: tuple[object, ...], extra: dict[str, object]
) -> None:
    log_through(private_capture, message, *args, **extra)
    (leak,) = private_capture.leaks()
    assert leak.startswith(kind) or kind in leak.split(":", 1)[0], leak
    for value in (TOKEN, LINK, JWT, SECRETS.ic_api_key, "Alice Anders", "carol@example.com", "ACCT-1001", "M-1"):
        assert value not in leak  # the report masks what it found


def test_the_detector_passes_identifiers_and_outcomes(private_capture: LogCapture) -> None:
    log_through(
        private_capture, "Payment %s approved", "f0525b38-0c1e-4f0e-9a55-5d2c7a1e3b11", account_hash="9f2c61d0a4e5b7c8"
    )
    log_through(private_capture, "POST /postback/{paymentId}/{token} -> 200 (12 ms)")
    log_through(private_capture, "Registration processed", linked=1, rejected=0, error_code="not_found_or_mismatch")
    assert private_capture.lines and private_capture.leaks() == []


def test_the_payer_details_come_from_the_billing_data() -> None:
    details = billing_payer_details()
    assert {"Alice Anders", "12 Orchard Lane", "alice@example.com", "carol@example.com"} <= details


def test_the_account_numbers_come_from_the_billing_data_and_the_tests() -> None:
    assert {"ACCT-1001", "ACCT-3002", "A-1", "M-1"} <= billing_account_numbers()


def test_the_session_capture_sees_the_functions_and_the_workers(log_capture: LogCapture) -> None:
    """The session's capture hears the sandbox's worker loggers at INFO and the functions' Powertools
    logger (which does not propagate to the root); so far nothing leaked (the end checks the run)."""
    from aws_lambda_powertools import Logger

    logging.getLogger("sandbox.worker.ProbeFunction").info("%s", '{"level": "INFO", "message": "probe line"}')
    Logger(service="avocette-payments", child=True).info("probe record", extra={"payment_id": "p-1"})
    names = {line.split(" ", 1)[0] for line in log_capture.lines}
    assert "sandbox.worker.ProbeFunction" in names
    assert any(
        name.startswith("avocette-payments") and "probe record" in line
        for line in log_capture.lines
        for name in [line.split(" ", 1)[0]]
    )
    made = StackSecrets()  # every sandbox's and every test stack's secrets are recorded as they are made
    assert set(made.all_values()) <= log_capture.secrets
    assert log_capture.leaks() == []
