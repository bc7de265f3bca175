"""POST /registrations and GET /registrations: proof, budgets, links, Invoice Cloud records, emails."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from avocette import SERVICE_NAME, clock
from avocette.clock import local_time
from avocette.security import account_hash
from avocette.settings.registration import get_registration_hash_key

from sandbox.invoicecloud import CustomerRecord
from sandbox.mailbox import sent_emails
from stackdef import caches
from tests.helpers import Stack, add_account, add_invoice, http_event, invoke, table_items
from tests.security.leaks import account_number_pattern

PORTAL = "/portal/"


@pytest.fixture
def billing(stack: Stack) -> Stack:
    """Four accounts in billing. At Invoice Cloud: R-1 registered, U-1 not registered, M-1 missing.
    S-1's billing email is someone else's."""
    add_account("R-1", name="Rita Reg", email="carol@example.com", registration_value="R1-REG")
    add_account("U-1", name="Una Unreg", email="carol@example.com", registration_value="U1-REG")
    add_account("M-1", name="Max Missing", email="carol@example.com", address="9 Gulf Dr", registration_value="M1-REG")
    add_account("S-1", name="Sam Shared", email="sam.owner@example.com", registration_value="S1-REG")
    for number in ("R-1", "U-1", "M-1", "S-1"):
        add_invoice(number, f"INV-{number}", "10.00")
    stack.simulator.put_customer_record(CustomerRecord("R-1", registered=True, registration_date="01/15/2026"))
    stack.simulator.put_customer_record(CustomerRecord("U-1", registered=False))
    stack.simulator.put_customer_record(CustomerRecord("S-1", registered=True))
    return stack


def register(
    sub: str, accounts: list[tuple[str, str]] | Any, *, verified: bool = True, email: str | None = None
) -> Any:
    body = (
        accounts
        if isinstance(accounts, dict)
        else {"accounts": [{"accountNumber": a, "registrationValue": v} for a, v in accounts]}
    )
    return invoke(
        "register_user", http_event("POST", "/registrations", sub=sub, body=body, email=email, email_verified=verified)
    )


def registrations(sub: str) -> Any:
    return invoke("register_user", http_event("GET", "/registrations", sub=sub))


def outcome(answer: Any, number: str) -> dict[str, Any]:
    return next(account for account in answer.json["accounts"] if account["accountNumber"] == number)


def mail_to(address: str) -> list[dict[str, Any]]:
    return [message for message in sent_emails() if address in message["to"]]


# ---- one branch at a time -------------------------------------------------------------------------


def test_registered_at_invoice_cloud(billing: Stack) -> None:
    answer = register("carol", [("R-1", "R1-REG")])
    assert answer.status == 200, answer.body
    assert answer.json["status"] == "REGISTERED"
    assert outcome(answer, "R-1") == {
        "accountNumber": "R-1", "outcome": "LINKED", "invoiceCloudRecord": "EXISTING", "invoiceCloudRegistered": True,
    }  # fmt: skip
    (email,) = mail_to("carol@example.com")
    assert "R-1" in email["body"] and PORTAL not in email["body"]


def test_not_registered_at_invoice_cloud_gets_the_portal_link(billing: Stack) -> None:
    answer = register("carol", [("U-1", "U1-REG")])
    assert outcome(answer, "U-1")["invoiceCloudRecord"] == "EXISTING"
    assert outcome(answer, "U-1")["invoiceCloudRegistered"] is False
    (email,) = mail_to("carol@example.com")
    assert f"{billing.simulator_url}/portal/" in email["body"] and "U-1" in email["body"]
    assert billing.simulator.customer_records()["U-1"]["updates"] == []  # an existing record is never changed


def test_missing_record_is_created_from_billing_data(billing: Stack) -> None:
    answer = register("carol", [("M-1", "m1 reg")])
    assert outcome(answer, "M-1") == {
        "accountNumber": "M-1", "outcome": "LINKED", "invoiceCloudRecord": "CREATED", "invoiceCloudRegistered": False,
    }  # fmt: skip
    record = billing.simulator.customer_records()["M-1"]
    (update,) = record["updates"]
    sent = update["fields"]
    assert sent["AccountNumber"] == "M-1" and sent["CustomerName"] == "Max Missing" and sent["Address1"] == "9 Gulf Dr"
    assert sent["EmailAddress"] == "carol@example.com" and sent["RegistrationValue"] == "***"
    assert not {"PIN", "BlockPaymentsCC", "BlockPaymentsEFT"} & set(sent)
    assert f"{billing.simulator_url}/portal/" in mail_to("carol@example.com")[0]["body"]


@pytest.mark.parametrize("typed", ["R1-REG", "r1-reg", " R1 REG ", "R1REG", "ｒ１－ＲＥＧ"])
def test_registration_value_is_normalised(billing: Stack, typed: str) -> None:
    assert outcome(register("carol", [("R-1", typed)]), "R-1")["outcome"] == "LINKED"


def test_wrong_value_and_unknown_account_are_rejected_alike(billing: Stack) -> None:
    answer = register("carol", [("R-1", "WRONG"), ("NOPE-1", "R1-REG")])
    assert answer.status == 200 and answer.json["status"] == "NOT_REGISTERED"
    wrong, unknown = outcome(answer, "R-1"), outcome(answer, "NOPE-1")
    assert {k: v for k, v in wrong.items() if k != "accountNumber"} == {
        k: v for k, v in unknown.items() if k != "accountNumber"
    }
    assert wrong == {
        "accountNumber": "R-1", "outcome": "REJECTED", "reason": "not_found_or_mismatch",
        "invoiceCloudRecord": "UNKNOWN", "invoiceCloudRegistered": None,
    }  # fmt: skip
    assert answer.json["emailSent"] is False and sent_emails() == []
    assert not table_items(billing, "USER#carol")


def test_mixed_batch_in_request_order(billing: Stack) -> None:
    answer = register("carol", [("M-1", "M1-REG"), ("R-1", "bad"), ("U-1", "U1-REG"), ("R-1x", "x")])
    assert [(a["accountNumber"], a["outcome"], a["invoiceCloudRecord"]) for a in answer.json["accounts"]] == [
        ("M-1", "LINKED", "CREATED"), ("R-1", "REJECTED", "UNKNOWN"),
        ("U-1", "LINKED", "EXISTING"), ("R-1x", "REJECTED", "UNKNOWN"),
    ]  # fmt: skip
    assert answer.json["status"] == "REGISTERED" and answer.json["emailSent"] is True
    (email,) = mail_to("carol@example.com")
    assert "M-1" in email["body"] and "U-1" in email["body"] and "R-1\n" not in email["body"]


def test_already_linked_sends_no_email(billing: Stack) -> None:
    register("carol", [("R-1", "R1-REG")])
    answer = register("carol", [("R-1", "R1-REG")])
    assert outcome(answer, "R-1")["outcome"] == "ALREADY_LINKED"
    assert answer.json["emailSent"] is False and len(sent_emails()) == 1


@pytest.mark.parametrize(
    "fault", [{"customerApiFault": "503"}, {"customerApiFault": "500"}, {"customerApiFault": "malformed"}]
)
def test_invoice_cloud_failing_still_links(billing: Stack, fault: dict[str, Any]) -> None:
    billing.simulator.update_config(fault)
    answer = register("carol", [("R-1", "R1-REG"), ("M-1", "M1-REG")])
    for number in ("R-1", "M-1"):
        assert outcome(answer, number) | {"accountNumber": "x"} == {
            "accountNumber": "x", "outcome": "LINKED", "invoiceCloudRecord": "UNKNOWN", "invoiceCloudRegistered": None,
        }  # fmt: skip
    assert answer.json["status"] == "REGISTERED" and answer.json["emailSent"] is True
    assert f"{billing.simulator_url}/portal/" in mail_to("carol@example.com")[0]["body"]  # unknown: told how to finish


def test_invoice_cloud_slow_is_unknown_within_the_budget(billing: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("REGISTRATION_IC_BUDGET_SECONDS", "0.5")
    caches.reset()
    billing.simulator.update_config({"customerApiDelaySeconds": 2})
    began = time.monotonic()
    answer = register("carol", [("R-1", "R1-REG")])
    assert time.monotonic() - began < 1.8
    assert outcome(answer, "R-1")["outcome"] == "LINKED"
    assert outcome(answer, "R-1")["invoiceCloudRecord"] == "UNKNOWN"


def test_read_retries_a_gateway_error(billing: Stack) -> None:
    billing.simulator.update_config({"customerApiFault": "503", "customerApiFaultCount": 1})
    answer = register("carol", [("R-1", "R1-REG")])
    assert outcome(answer, "R-1")["invoiceCloudRecord"] == "EXISTING"


# ---- budgets ----------------------------------------------------------------------------------------


def test_user_budget_runs_out_mid_request(billing: Stack) -> None:
    wrong = [(f"X-{n}", "nope") for n in range(5)]
    answer = register("carol", [*wrong, ("R-1", "R1-REG"), ("U-1", "U1-REG")])
    assert [a.get("reason") for a in answer.json["accounts"]] == ["not_found_or_mismatch"] * 5 + ["rate_limited"] * 2
    assert answer.status == 200 and answer.json["status"] == "NOT_REGISTERED"
    refused = register("carol", [("R-1", "R1-REG")])
    assert (refused.status, refused.json["error"]) == (429, "too_many_attempts")
    assert not table_items(billing, "USER#carol")


def test_too_many_attempts_says_when_to_try_again(billing: Stack) -> None:
    first_failure = clock.utc_now().replace(microsecond=0)
    for n in range(5):
        register("dora", [(f"X-{n}", "nope")])
    refused = register("dora", [("R-1", "R1-REG")])
    assert (refused.status, refused.json["error"]) == (429, "too_many_attempts")
    retry = datetime.fromisoformat(refused.json["details"]["retryAt"].replace("Z", "+00:00"))
    # when the first of the five failures leaves the sliding hour
    assert first_failure + timedelta(hours=1) <= retry <= clock.utc_now() + timedelta(hours=1, seconds=2)
    when = local_time(retry, ZoneInfo("America/New_York"))  # BILLER_TIME_ZONE's default
    assert refused.json["message"] == f"Too many unsuccessful attempts. Please try again after {when}."


def test_successful_proofs_do_not_spend_the_budget(billing: Stack) -> None:
    for _ in range(7):
        assert outcome(register("carol", [("R-1", "R1-REG")]), "R-1")["outcome"] in ("LINKED", "ALREADY_LINKED")
    answer = register("carol", [(f"X-{n}", "nope") for n in range(5)])
    assert all(a["reason"] == "not_found_or_mismatch" for a in answer.json["accounts"])


def test_strangers_guessing_an_account_do_not_spend_its_owners_budget(billing: Stack) -> None:
    for n in range(10):
        register(f"guesser-{n}", [("S-1", f"guess-{n}")])
    answer = register("sam", [("S-1", "S1-REG")])
    assert (answer.status, outcome(answer, "S-1")["outcome"]) == (200, "LINKED")


def test_budget_items_expire(billing: Stack) -> None:
    register("carol", [("X-1", "nope")])
    items = {item["PK"]: item for item in table_items(billing, "RATELIMIT#")}
    assert set(items) == {"RATELIMIT#USER#carol", "RATELIMIT#ACCOUNT#X-1"}
    assert all(isinstance(item["ttl"], int) for item in items.values())
    assert len(items["RATELIMIT#USER#carol"]["failures"]) == 1
    assert items["RATELIMIT#ACCOUNT#X-1"]["count"] == 1


# ---- who may register, and who hears of it ----------------------------------------------------------


def test_unverified_email_is_refused_before_anything(billing: Stack) -> None:
    before = table_items(billing)
    answer = register("carol", [("R-1", "R1-REG")], verified=False)
    assert (answer.status, answer.json["error"]) == (403, "email_unverified")
    assert table_items(billing) == before


def test_second_user_on_an_account_warns_the_billing_email(billing: Stack) -> None:
    register("sam", [("S-1", "S1-REG")], email="sam.owner@example.com")
    assert mail_to("sam.owner@example.com") and len(sent_emails()) == 1  # his own: no notice to himself
    answer = register("carol", [("S-1", "S1-REG")])
    assert outcome(answer, "S-1")["outcome"] == "LINKED"
    notices = [m for m in mail_to("sam.owner@example.com") if "was linked" in m["subject"]]
    (notice,) = notices
    assert "ending in" in notice["body"] and "carol" not in notice["body"]


@pytest.mark.parametrize(
    "body",
    [
        {"accounts": []},
        {"accounts": [{"accountNumber": f"A-{n}", "registrationValue": "v"} for n in range(21)]},
        {
            "accounts": [
                {"accountNumber": "R-1", "registrationValue": "a"},
                {"accountNumber": "R-1", "registrationValue": "b"},
            ]
        },
        {"accounts": [{"accountNumber": "R-1", "registrationValue": "x" * 65}]},
        {"accounts": [{"accountNumber": "R-1", "registrationValue": ""}]},
        {"accounts": [{"accountNumber": "R-1", "registrationValue": "R1-REG", "extra": 1}]},
    ],
    ids=["none", "twenty-one", "repeated", "too-long", "blank", "unknown-field"],
)
def test_bad_requests_are_422_and_write_nothing(billing: Stack, body: dict[str, Any]) -> None:
    before = table_items(billing)
    answer = register("carol", body)
    assert (answer.status, answer.json["error"]) == (422, "validation_error")
    assert table_items(billing) == before


def test_get_registrations(billing: Stack) -> None:
    assert registrations("carol").json == {"status": "NOT_REGISTERED", "accounts": []}
    register("carol", [("R-1", "R1-REG"), ("M-1", "M1-REG")])
    answer = registrations("carol").json
    assert answer["status"] == "REGISTERED"
    assert [(a["accountNumber"], a["invoiceCloudRegistered"]) for a in answer["accounts"]] == [
        ("M-1", False),
        ("R-1", True),
    ]
    assert all(a["linkedAt"].endswith("Z") for a in answer["accounts"])


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


@pytest.fixture
def service_logs() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger(SERVICE_NAME)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_no_registration_value_email_or_name_is_logged(
    billing: Stack, service_logs: _Lines, capfd: pytest.CaptureFixture[str]
) -> None:
    register("carol", [("M-1", "M1-REG"), ("R-1", "WRONG-VALUE-1"), ("S-1", "S1-REG")])
    register("carol", [("NOPE", "WRONG-VALUE-2")])
    captured = capfd.readouterr()
    output = "\n".join(service_logs.lines) + captured.out + captured.err
    assert "Registration processed" in output
    for secret in (
        "M1-REG",
        "WRONG-VALUE-1",
        "WRONG-VALUE-2",
        "S1-REG",
        "carol@example.com",
        "sam.owner@example.com",
        "Max Missing",
        "Sam Shared",
        "9 Gulf Dr",
    ):
        assert secret not in output, secret


def test_account_numbers_are_logged_only_as_their_keyed_hash(billing: Stack, service_logs: _Lines) -> None:
    register("carol", [("M-1", "M1-REG")])  # Invoice Cloud's record created
    billing.simulator.update_config({"customerApiFault": "503"})
    register("dave", [("R-1", "R1-REG")])  # Invoice Cloud's record unknown
    output = "\n".join(service_logs.lines)
    assert "Invoice Cloud customer record created" in output and "Invoice Cloud customer record unknown" in output
    assert not account_number_pattern(["M-1", "R-1"]).search(output)
    key = get_registration_hash_key()
    assert account_hash(key, "M-1") in output and account_hash(key, "R-1") in output


def test_an_unset_invoice_cloud_secret_still_links(billing: Stack) -> None:
    import boto3

    boto3.client("secretsmanager").put_secret_value(
        SecretId=billing.names.ic_secret_name, SecretString='{"apiKey": "", "billerGuid": "", "webServiceKey": ""}'
    )
    caches.reset()
    answer = register("carol", [("R-1", "R1-REG")])
    assert outcome(answer, "R-1") == {
        "accountNumber": "R-1", "outcome": "LINKED", "invoiceCloudRecord": "UNKNOWN", "invoiceCloudRegistered": None,
    }  # fmt: skip


def test_an_unset_invoice_cloud_secret_leaves_a_listing_unknown_never_a_5xx(billing: Stack) -> None:
    import boto3

    register("carol", [("U-1", "U1-REG")])
    clock.set_offset(timedelta(minutes=5))  # past REGISTRATION_IC_RECHECK_SECONDS
    try:
        boto3.client("secretsmanager").put_secret_value(
            SecretId=billing.names.ic_secret_name, SecretString='{"apiKey": "", "billerGuid": "", "webServiceKey": ""}'
        )
        caches.reset()
        answer = registrations("carol")
    finally:
        clock.set_offset(timedelta(0))
    assert answer.status == 200
    assert [(a["accountNumber"], a["invoiceCloudRegistered"]) for a in answer.json["accounts"]] == [("U-1", None)]
    (link,) = table_items(billing, "USER#carol")
    assert link["invoiceCloudRegistered"] is False
