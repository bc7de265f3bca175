"""The simulator's side of the balance refresh against a scripted biller: what it sends (each scheme's
credential, the account percent-encoded), what it does with each answer (replace its copy, keep what it
took payment for itself, refuse what it cannot read), and its limits, as settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sandbox.invoicecloud import AdjustableClock, CopiedInvoice, InvoiceCloudSimulator, RefreshTarget
from tests.scripted_server import Answer, ScriptedServer, scripted_server

SECRET = "s" * 40
START = datetime(2026, 11, 25, 19, 11, tzinfo=UTC)


@pytest.fixture
def biller() -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        yield server


def simulator(biller: ScriptedServer, clock: AdjustableClock, *, auth: str = "basic") -> InvoiceCloudSimulator:
    return InvoiceCloudSimulator(
        api_key="k",
        biller_guid="g",
        web_service_key="w",
        clock=clock,
        invoice_load={
            "A/1": [
                CopiedInvoice("I-1", date(2026, 12, 15), Decimal("84.20")),
                CopiedInvoice("I-2", date(2026, 12, 20), Decimal("42.15")),
            ]
        },
        invoice_load_as_of=START - timedelta(days=20),
        refresh_target=RefreshTarget(
            url_template=biller.url + "/invoicecloud/accounts/{accountNumber}",
            auth=auth,  # type: ignore[arg-type]
            username="invoicecloud",
            secret=SECRET,
        ),
    )


def answer(*invoices: tuple[str, str], account: str = "A/1", content_type: str = "application/json") -> Answer:
    body = {
        "AccountNumber": account,
        "AsOf": "2026-11-25T19:11:00Z",
        "TotalDue": "0.00",
        "Invoices": [{"InvoiceNumber": number, "DueDate": "12/15/2026", "BalanceDue": due} for number, due in invoices],
    }
    return Answer(200, json.dumps(body), content_type=f"{content_type}; charset=utf-8")


def balances(result: dict[str, Any]) -> dict[str, str]:
    return {row["invoiceNumber"]: row["balanceDue"] for row in result["invoices"]}


@pytest.mark.parametrize("auth", ["basic", "header", "hmac"])
def test_it_calls_with_the_schemes_credential_and_the_account_encoded(biller: ScriptedServer, auth: str) -> None:
    clock = AdjustableClock(START)
    biller.script(answer(("I-1", "0.00"), ("I-2", "42.15")))
    result = simulator(biller, clock, auth=auth).refresh_account("A/1")
    assert result["outcome"] == "REFRESHED"
    (sent,) = biller.received
    assert (sent.method, sent.path) == ("GET", "/invoicecloud/accounts/A/1")  # %2F, decoded by the server
    assert sent.headers["Accept"] == "application/json"
    if auth == "basic":
        assert sent.headers["Authorization"] == "Basic " + base64.b64encode(f"invoicecloud:{SECRET}".encode()).decode()
    elif auth == "header":
        assert sent.headers["X-Api-Key"] == SECRET and "Authorization" not in sent.headers
    else:
        stamp, nonce = sent.headers["X-Ic-Timestamp"], sent.headers["X-Ic-Nonce"]
        assert stamp == str(int(START.timestamp())) and len(nonce) >= 16
        message = f"invoicecloud-refresh\nA/1\n{stamp}\n{nonce}".encode()
        digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
        assert sent.headers["X-Ic-Signature"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_an_answer_replaces_the_copy_and_an_invoice_left_out_is_gone(biller: ScriptedServer) -> None:
    clock = AdjustableClock(START)
    invoice_cloud = simulator(biller, clock)
    biller.script(answer(("I-2", "12.15"), ("I-3", "9.99")))
    result = invoice_cloud.refresh_account("A/1")
    assert balances(result) == {"I-2": "12.15", "I-3": "9.99"}
    assert (result["source"], result["asOf"]) == ("refresh", "2026-11-25T19:11:00.000Z")


def test_what_it_took_payment_for_stays_for_the_hold_then_the_biller_wins(biller: ScriptedServer) -> None:
    clock = AdjustableClock(START)
    invoice_cloud = simulator(biller, clock)
    paid = invoice_cloud.take_portal_payment({"accountNumber": "A/1", "invoiceNumber": "I-1", "amount": "80.00"})
    assert (paid["balanceDue"], paid["status"]) == ("4.20", "DUE")
    biller.script(answer(("I-2", "42.15")), answer(("I-2", "42.15")))
    kept = invoice_cloud.refresh_account("A/1")
    assert kept["keptPaidHere"] == ["I-1"] and balances(kept) == {"I-2": "42.15", "I-1": "4.20"}
    clock.advance(timedelta(hours=24, minutes=1))
    after = invoice_cloud.refresh_account("A/1")
    assert after["keptPaidHere"] == [] and balances(after) == {"I-2": "42.15"}


def test_the_limits_are_settings(biller: ScriptedServer) -> None:
    clock = AdjustableClock(START)
    invoice_cloud = simulator(biller, clock)
    biller.script(*[answer(("I-1", "84.20"))] * 3)
    assert invoice_cloud.refresh_account("A/1")["outcome"] == "REFRESHED"
    skipped = invoice_cloud.refresh_account("A/1")
    assert (skipped["outcome"], skipped["nextRefreshAt"]) == ("SKIPPED", "2026-11-25T23:11:00.000Z")
    assert len(biller.received) == 1  # a skipped pull calls nobody
    invoice_cloud.update_config({"refreshIntervalHours": 0.5})
    clock.advance(timedelta(minutes=31))
    assert invoice_cloud.refresh_account("A/1")["outcome"] == "REFRESHED"
    with pytest.raises(Exception, match="refreshIntervalHours must be a number"):
        invoice_cloud.update_config({"refreshIntervalHours": "4"})


@pytest.mark.parametrize(
    ("scripted", "error"),
    [
        (Answer(401, "{}"), "the biller refused Invoice Cloud's credential"),
        (Answer(404, "{}"), "the biller has no such account"),
        (Answer(503, "busy", content_type="text/html"), "the biller answered with an error (503)"),
        (
            Answer(302, "", headers={"Location": "https://elsewhere.example/"}),
            "the biller answered with an error (302)",
        ),
        (answer(("I-1", "1.00"), content_type="text/html"), "the biller's answer is not in the agreed format"),
        (
            Answer(200, "{not json", content_type="application/json"),
            "the biller's answer could not be read (the answer is not JSON)",
        ),
        (
            answer(("I-1", "1.005")),
            "the biller's answer could not be read (invoice 0: the balance due is not an amount of",
        ),
        (answer(("I-1", "1.00"), account="A/2"), "the biller's answer is about another account"),
        (Answer(200, "{}", delay=1.5), "the biller did not answer"),
    ],
)
def test_a_failed_refresh_keeps_the_copy_and_says_why(biller: ScriptedServer, scripted: Answer, error: str) -> None:
    clock = AdjustableClock(START)
    invoice_cloud = simulator(biller, clock)
    invoice_cloud._refresh_target = RefreshTarget(  # a short wait, for the case that never answers
        url_template=biller.url + "/invoicecloud/accounts/{accountNumber}",
        auth="basic",
        username="invoicecloud",
        secret=SECRET,
        timeout_seconds=0.5,
    )
    biller.script(scripted)
    failed = invoice_cloud.refresh_account("A/1")
    assert failed["outcome"] == "FAILED" and failed["error"].startswith(error), failed["error"]
    assert balances(failed) == {"I-1": "84.20", "I-2": "42.15"} and failed["source"] == "load"
    assert failed["lastFailure"] == failed["error"] and failed["lastRefreshedAt"] is None
    biller.script(answer(("I-1", "0.00")))
    assert invoice_cloud.refresh_account("A/1")["outcome"] == "REFRESHED"  # a failure starts no wait


def test_without_a_refresh_set_up_the_control_call_says_so() -> None:
    bare = InvoiceCloudSimulator(api_key="k", biller_guid="g", web_service_key="w")
    with pytest.raises(Exception, match="No balance refresh endpoint is set up"):
        bare.refresh_account("A/1")


def test_a_portal_payment_must_fit_what_is_due(biller: ScriptedServer) -> None:
    invoice_cloud = simulator(biller, AdjustableClock(START))
    for body in (
        {"accountNumber": "A/1", "invoiceNumber": "I-9"},
        {"accountNumber": "A/1", "invoiceNumber": "I-1", "amount": "84.21"},
        {"accountNumber": "A/1", "invoiceNumber": "I-1", "amount": "0"},
        {"accountNumber": "A/1", "invoiceNumber": "I-1", "extra": 1},
    ):
        with pytest.raises(Exception, match=r"invoice|amount|Send"):
            invoice_cloud.take_portal_payment(body)
