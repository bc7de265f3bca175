"""GET /invoicecloud/accounts/{accountNumber}: Invoice Cloud's balance refresh (DESIGN §3), through the
function as API Gateway calls it: the credential first (each scheme), then the account's open invoices
with what is due on each by §5's payable rule, without our holds, in the configured format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from avocette.domain.billing import Credit

from stackdef import caches
from tests.helpers import (
    Stack,
    add_account,
    add_invoice,
    approved_fields,
    invoke,
    refresh,
    refresh_event,
    refresh_headers,
    send_postback,
    start_payment,
    table_items,
)

pytestmark = pytest.mark.usefixtures("stack")


def use(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Change the function's settings, as a new deployment would (the layer forgets what it cached)."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    caches.reset()


@pytest.fixture
def account(stack: Stack) -> str:
    """A-1 (Alice's): I-1 84.20, I-2 42.15 with a 10.00 minimum and part payments, due later."""
    add_account("A-1", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-1", "I-1", "84.20")
    add_invoice("A-1", "I-2", "42.15", minimum="10.00", allow_partial=True)
    return "A-1"


def invoices_of(answer: Any) -> dict[str, dict[str, Any]]:
    return {invoice["InvoiceNumber"]: invoice for invoice in answer.json["Invoices"]}


# ---- the answer ------------------------------------------------------------------------------------


def test_an_account_answers_its_open_invoices_in_the_format(stack: Stack, account: str) -> None:
    answer = refresh(stack, account)
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json
    assert list(body) == ["AccountNumber", "AsOf", "TotalDue", "Invoices"]
    assert body["AccountNumber"] == "A-1" and body["TotalDue"] == "126.35"
    assert datetime.fromisoformat(body["AsOf"]) - datetime.now(UTC) < timedelta(minutes=1)
    assert body["Invoices"] == [
        {
            "InvoiceNumber": "I-1",
            "InvoiceDate": "10/28/2026",
            "DueDate": "11/20/2026",
            "BalanceDue": "84.20",
            "AllowPartialPayments": False,
        },
        {
            "InvoiceNumber": "I-2",
            "InvoiceDate": "10/28/2026",
            "DueDate": "11/20/2026",
            "BalanceDue": "42.15",
            "MinimumAmountDue": "10.00",
            "AllowPartialPayments": True,
        },
    ]


def test_a_paid_invoice_is_due_0_and_a_part_payment_lowers_the_balance(stack: Stack, account: str) -> None:
    payment = start_payment("alice", [("A-1", "I-1"), ("A-1", "I-2")])
    assert payment.status == 201, payment.body
    payment_id = payment.json["paymentId"]
    assert send_postback(stack, payment_id, approved_fields(payment_id, "84.20", invoice="I-1")).status == 200
    assert (
        send_postback(stack, payment_id, approved_fields(payment_id, "40.00", invoice="I-2", guid="G-2")).status == 200
    )
    invoices = invoices_of(refresh(stack, account))
    assert invoices["I-1"]["BalanceDue"] == "0.00"  # listed at 0.00, so that Invoice Cloud's copy changes
    assert invoices["I-2"]["BalanceDue"] == "2.15"
    assert invoices["I-2"]["MinimumAmountDue"] == "2.15"  # never more than what is due
    assert refresh(stack, account).json["TotalDue"] == "2.15"


def test_our_session_holds_do_not_change_what_is_due(stack: Stack, account: str) -> None:
    """A hold only keeps a second session of ours from paying the invoice twice: it is still due at
    Invoice Cloud, where its payer may pay it."""
    assert start_payment("alice", [("A-1", "I-1")]).status == 201
    holds = [item for item in table_items(stack, "ACCOUNT#A-1") if item.get("openPaymentId")]
    assert [item["invoiceNumber"] for item in holds] == ["I-1"]
    assert invoices_of(refresh(stack, account))["I-1"]["BalanceDue"] == "84.20"


def test_a_credit_the_billing_file_reflects_counts_once(stack: Stack) -> None:
    """§5: billed less the credits the bill cannot reflect yet; one the file already reflects is not
    taken off again."""
    add_account("R-2")
    as_of = datetime(2026, 11, 1, 6, tzinfo=UTC)
    reflected = Credit(payment_id="p-1", cents=2000, approved_at=as_of, reflected_as_of=as_of)
    pending = Credit(payment_id="p-2", cents=500, approved_at=as_of)
    add_invoice("R-2", "I-1", "30.00", credits={"p-1#a": reflected, "p-2#b": pending})
    assert invoices_of(refresh(stack, "R-2"))["I-1"]["BalanceDue"] == "25.00"


def test_a_credit_invoice_is_due_0_and_lowers_the_oldest_bill_as_a_payment_would(stack: Stack) -> None:
    """§5, the account's credit: Invoice Cloud is told what our portal charges, the credit applied."""
    add_account("R-3")
    add_invoice("R-3", "I-1", "50.00")
    add_invoice("R-3", "C-1", "-20.00")
    answer = refresh(stack, "R-3")
    assert {number: row["BalanceDue"] for number, row in invoices_of(answer).items()} == {
        "I-1": "30.00",
        "C-1": "0.00",
    }
    assert answer.json["TotalDue"] == "30.00"


def test_closed_invoices_are_left_out(stack: Stack, account: str) -> None:
    from avocette.store.table import dynamodb, serialize_value

    dynamodb().update_item(
        TableName=stack.names.app_table,
        Key={"PK": {"S": "ACCOUNT#A-1"}, "SK": {"S": "INVOICE#I-1"}},
        UpdateExpression="SET closedAt = :at",
        ExpressionAttributeValues={":at": serialize_value("2026-11-02T06:00:00Z")},
    )
    assert list(invoices_of(refresh(stack, account))) == ["I-2"]


def test_an_account_without_open_invoices_answers_an_empty_list(stack: Stack) -> None:
    add_account("R-4")
    answer = refresh(stack, "R-4")
    assert answer.status == 200 and answer.json["Invoices"] == [] and answer.json["TotalDue"] == "0.00"


@pytest.mark.parametrize("number", ["R-404", "a-1", "A-1 x", "A" * 65, "../A-1", "A-1\u2010", "\u0410-1", "A-1\x00"])
def test_anything_but_a_known_account_is_404_alike(stack: Stack, account: str, number: str) -> None:
    unknown = refresh(stack, "R-404")
    answer = refresh(stack, number)
    assert answer.status == 404 and json.loads(answer.body)["error"] == "account_not_found"
    assert (answer.status, answer.body) == (unknown.status, unknown.body)


def test_the_number_is_read_as_the_billing_file_reads_it(stack: Stack, account: str) -> None:
    """The billing file trims its identifiers, so a path's surrounding spaces name the same account."""
    assert refresh(stack, " A-1 ").json["AccountNumber"] == "A-1"


# ---- the credential --------------------------------------------------------------------------------


def no_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any read of the table: a refused call must make none."""
    from avocette.store import refresh as refresh_store

    reads: list[str] = []

    def read(account_number: str) -> None:
        reads.append(account_number)

    monkeypatch.setattr(refresh_store, "read_invoices_for_refresh", read)
    return reads


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic aW52b2ljZWNsb3Vk"},  # "invoicecloud", no colon
    ],
    ids=["none", "empty", "not-base64", "bearer", "no-colon"],
)
def test_a_missing_or_malformed_credential_is_401_and_reads_nothing(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]
) -> None:
    reads = no_reads(monkeypatch)
    answer = invoke("refresh_balances", refresh_event(account, headers))
    assert answer.status == 401 and answer.json["error"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="invoicecloud-refresh", charset="UTF-8"'
    assert reads == []


def test_a_wrong_secret_or_username_is_the_same_401(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = no_reads(monkeypatch)
    missing = invoke("refresh_balances", refresh_event(account, {}))
    wrong_secret = refresh(stack, account, secret="x" * 48)
    wrong_user = refresh(stack, account, username="someone")
    for answer in (wrong_secret, wrong_user):
        assert (answer.status, answer.headers, answer.body) == (missing.status, missing.headers, missing.body)
    assert reads == []


def test_the_header_scheme(stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, IC_REFRESH_AUTH="header", IC_REFRESH_HEADER="X-Biller-Key")
    assert refresh(stack, account, scheme="header", header="X-Biller-Key").status == 200
    assert refresh(stack, account, scheme="header", header="x-biller-key").status == 200  # names have no case
    assert refresh(stack, account, scheme="header", header="X-Api-Key").status == 401
    assert refresh(stack, account, scheme="header", header="X-Biller-Key", secret="y" * 48).status == 401
    refused = refresh(stack, account, scheme="basic")  # the other scheme's credential is no credential
    assert refused.status == 401 and refused.headers["WWW-Authenticate"] == 'ApiKey realm="invoicecloud-refresh"'


def test_the_hmac_scheme_refuses_replays_stale_times_and_other_accounts(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, IC_REFRESH_AUTH="hmac")
    headers = refresh_headers(stack, account, scheme="hmac")
    assert invoke("refresh_balances", refresh_event(account, headers)).status == 200
    replayed = invoke("refresh_balances", refresh_event(account, headers))
    assert (
        replayed.status == 401 and replayed.headers["WWW-Authenticate"] == 'IC-HMAC-SHA256 realm="invoicecloud-refresh"'
    )
    now = int(datetime.now(UTC).timestamp())
    for stale in (now - 301, now + 301):
        assert refresh(stack, account, scheme="hmac", timestamp=stale).status == 401
    assert refresh(stack, account, scheme="hmac", timestamp=now - 290).status == 200  # within the window
    add_account("R-9")
    signed_for_a1 = refresh_headers(stack, account, scheme="hmac")
    assert invoke("refresh_balances", refresh_event("R-9", signed_for_a1)).status == 401
    # The refused one wrote nothing: its nonce is still good for the account it signs.
    assert invoke("refresh_balances", refresh_event(account, signed_for_a1)).status == 200
    assert refresh(stack, account, scheme="hmac", nonce="short").status == 401
    assert refresh(stack, account, scheme="hmac", secret="z" * 48).status == 401
    nonces = table_items(stack, "REFRESHNONCE#")
    assert len(nonces) == 3 and all(item["ttl"] <= now + 301 for item in nonces)


def test_a_rotation_accepts_the_previous_secret_until_it_is_removed(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    old = stack.secrets.refresh_credential["secret"]
    secrets = boto3.client("secretsmanager")
    new = {"username": "invoicecloud", "secret": "n" * 40, "previousSecret": old}
    secrets.put_secret_value(SecretId=stack.names.refresh_secret_name, SecretString=json.dumps(new))
    caches.reset()
    assert refresh(stack, account, secret="n" * 40).status == 200
    assert refresh(stack, account).status == 200  # Invoice Cloud has not switched yet
    del new["previousSecret"]
    secrets.put_secret_value(SecretId=stack.names.refresh_secret_name, SecretString=json.dumps(new))
    caches.reset()
    assert refresh(stack, account).status == 401  # the retired credential, replayed
    assert refresh(stack, account, secret="n" * 40).status == 200


def test_source_cidrs_refuse_other_sources_like_a_bad_credential(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, IC_REFRESH_SOURCE_CIDRS="203.0.113.0/24, 2001:db8::/32")
    assert refresh(stack, account, source_ip="203.0.113.9").status == 200
    assert refresh(stack, account, source_ip="2001:db8::1").status == 200
    outside = refresh(stack, account, source_ip="198.51.100.7")
    bad = invoke("refresh_balances", refresh_event(account, {}, source_ip="203.0.113.9"))
    assert (outside.status, outside.body) == (bad.status, bad.body) == (401, bad.body)


def test_a_secret_too_short_to_be_the_stacks_refuses_everyone_with_a_500(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: a hand-set weak credential is a deployment mistake, not a way in."""
    import boto3

    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.names.refresh_secret_name, SecretString=json.dumps({"username": "ic", "secret": "short"})
    )
    caches.reset()
    answer = refresh(stack, account, username="ic", secret="short")
    assert answer.status == 500 and answer.json["error"] == "internal_error"


def test_a_format_that_does_not_exist_is_a_500_after_the_credential(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, IC_REFRESH_FORMAT="no-such-format")
    assert invoke("refresh_balances", refresh_event(account, {})).status == 401  # strangers cannot trip it
    assert refresh(stack, account).status == 500


# ---- DynamoDB failing -------------------------------------------------------------------------------


def throttled(monkeypatch: pytest.MonkeyPatch, operation: str) -> list[str]:
    """Make the store's DynamoDB client throttle every ``operation`` (after botocore's own retries)."""
    from avocette.store.table import dynamodb
    from botocore.exceptions import ClientError

    client = dynamodb()
    calls: list[str] = []

    def refuse(**params: Any) -> Any:
        calls.append(operation)
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, operation)

    monkeypatch.setattr(client, {"Query": "query", "PutItem": "put_item"}[operation], refuse)
    return calls


def test_a_throttled_read_is_a_503_invoice_cloud_may_retry(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as failing:
        calls = throttled(failing, "Query")
        answer = refresh(stack, account)
    assert (answer.status, answer.json["error"]) == (503, "service_unavailable") and calls == ["Query"]
    assert refresh(stack, account).status == 200


def test_a_signed_call_whose_nonce_could_not_be_kept_may_be_sent_again(
    stack: Stack, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nonce is the one write: when it fails nothing was kept, so Invoice Cloud's retry of the very
    same call is not taken for a replay."""
    use(monkeypatch, IC_REFRESH_AUTH="hmac")
    headers = refresh_headers(stack, account, scheme="hmac")
    with monkeypatch.context() as failing:
        throttled(failing, "PutItem")
        assert invoke("refresh_balances", refresh_event(account, headers)).status == 503
    assert table_items(stack, "REFRESHNONCE#") == []
    assert invoke("refresh_balances", refresh_event(account, headers)).status == 200
    assert invoke("refresh_balances", refresh_event(account, headers)).status == 401


# ---- the refresh and the portal never disagree ------------------------------------------------------------


def test_invoice_cloud_is_told_what_the_portal_shows_as_payable(stack: Stack) -> None:
    """Whatever credits, reflected credits and reversals an account's invoices carry, the refresh's
    BalanceDue is GET /accounts' ``payable`` of the same invoice, and TotalDue its ``totalDue``."""
    from avocette import money
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.helpers import http_event

    as_of = datetime(2026, 11, 1, 6, tzinfo=UTC)
    credit = st.builds(
        lambda cents, reflected, reversed_share: Credit(
            payment_id="p",
            cents=cents,
            approved_at=as_of,
            reflected_as_of=as_of if reflected else None,
            reversed_cents=cents * reversed_share // 2,
        ),
        st.integers(1, 20_000),
        st.booleans(),
        st.integers(0, 2),
    )
    invoice = st.tuples(st.integers(-5_000, 50_000), st.lists(credit, max_size=3), st.booleans())
    counter = iter(range(10_000))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(invoice, min_size=1, max_size=4))
    def agree(invoices: list[tuple[int, list[Credit], bool]]) -> None:
        number = f"P-{next(counter)}"
        add_account(number, linked_to=("payer",))
        for index, (billed, credits, partial) in enumerate(invoices):
            cents = {f"c{n}": c for n, c in enumerate(credits)}
            add_invoice(number, f"I-{index}", money.cents_to_text(billed), credits=cents, allow_partial=partial)
        told = refresh(stack, number).json
        shown = invoke("accounts", http_event("GET", "/accounts", sub="payer")).json
        (view,) = [a for a in shown["accounts"] if a["accountNumber"] == number]
        assert {row["InvoiceNumber"]: row["BalanceDue"] for row in told["Invoices"]} == {
            row["invoiceNumber"]: row["payable"] for row in view["invoices"]
        }
        assert told["TotalDue"] == view["totalDue"]

    agree()
