"""Each function's first invocation, for the cold-request benchmark (:mod:`bench.cold`).

The functions run in fresh ``python3.12`` processes against moto's server and the Invoice Cloud
simulator, both served by this process (:class:`ServedStack`); the fixtures are written here, through
the layer's own store, just before each sample. A fixture's unique strings (its ``tokens``: a tag in
its account numbers and subs, its payment id, its day) let the requests recorded on one fixture be
replayed on another (:func:`swapped_calls`), which is what the floor does.

What each function's first invocation is:

- PostbackFunction: an approved postback with a valid token for a PENDING payment (Query, transaction).
- StartPaymentFunction: POST /payments for one open invoice, Invoice Cloud's session from the simulator.
- AccountsFunction: GET /accounts of a payer with one linked account and its invoices.
- StatementsFunction: GET /accounts/{n}/invoices/{i}/statement for a linked account's invoice whose PDF
  is in the inbound bucket (a presigned URL).
- StatementLinksFunction: GET /statement-links/{token} with a signed link to such a bill (a 302 to a
  presigned URL; statement links on for this function alone).
- RefreshBalancesFunction: Invoice Cloud's balance refresh of one account (two invoices), with the
  stack's credential (HTTP Basic, the default scheme).
- PaymentsFunction: GET /payments/{id}, the page the payer returns to from Invoice Cloud.
- RegisterUserFunction: POST /registrations proving one account (Invoice Cloud asked for its record,
  the payer emailed).
- ExpirePaymentsFunction: the schedule's run, with one payment whose session has passed.
- ExportPaymentsFunction: a day's export, the day holding one credit.
- ExportChangesFunction: the change log's file of a day that is over (nothing changed that day).
- ImportBillingFunction: S3's event for a small partial billing file (3 accounts, 6 invoices).
- ReconcilePaymentsFunction: S3's event for Invoice Cloud's file of a day, listing that day's payment.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import boto3
import requests
from avocette import clock
from avocette.biller.billing_file import COLUMNS
from avocette.domain.billing import Account, Invoice, InvoiceRef
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.domain.registration import registration_hash
from avocette.domain.statements import StatementLink
from avocette.security import KeyRing
from avocette.service.statements import statement_link_token
from avocette.settings.registration import get_registration_hash_key
from avocette.settings.secrets import get_postback_key_ring
from avocette.store import billing, links
from avocette.store import payments as payments_store
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from sandbox.invoicecloud import CustomerRecord, InvoiceCloudSimulator
from sandbox.runner import _serialized
from sandbox.s3events import object_created_event
from sandbox.serving import RunningServer, start_server
from sandbox.stack import StackNames, StackSecrets, function_environments, provision
from stackdef import caches
from tests.helpers import http_event, load_function, refresh_event

__all__ = ["FIRST_REQUESTS", "REPLAYED_SERVICES", "FirstRequest", "Fixture", "ServedStack", "swapped_calls"]

# The floor replays these services' calls: the functions' data (DynamoDB, and S3 for the file jobs).
# Secrets Manager (configuration) and SES (the payer's email) stay on the function's side.
REPLAYED_SERVICES = ("dynamodb", "s3")
PARAMETERS = {
    "JwtIssuer": "https://bench/",
    "JwtAudience": "bench",
    "CorsAllowOrigins": "https://bench",
    "PortalReturnUrl": "https://bench/#/return/{paymentId}",
    "SenderEmail": "bench@example.com",
    "PublicApiBaseUrl": "https://api.bench",
    "InvoiceCloudPaymentTypeIds": '{"1": "CARD", "2": "ACH"}',
    "BillingBucketName": "bench-billing",
    "InboundBucketName": "bench-inbound",
    "ExportsBucketName": "bench-exports",
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Fixture:
    """One sample's data: the event the function gets, and the strings unique to it, by role."""

    event: dict[str, Any]
    tokens: tuple[str, ...]


class ServedStack:
    """moto's server and the Invoice Cloud simulator, served by this process; :meth:`fresh` empties
    them and provisions the stack again (each round starts from empty tables)."""

    def __init__(self) -> None:
        self.secrets = StackSecrets()
        self.names = StackNames(
            billing_bucket=PARAMETERS["BillingBucketName"],
            inbound_bucket=PARAMETERS["InboundBucketName"],
            exports_bucket=PARAMETERS["ExportsBucketName"],
        )
        self.simulator = InvoiceCloudSimulator(
            api_key=self.secrets.ic_api_key,
            biller_guid=self.secrets.biller_guid,
            web_service_key=self.secrets.web_service_key,
            clock=clock.utc_now,
        )
        self._servers: list[RunningServer] = []
        self.environments: dict[str, dict[str, str]] = {}
        self.moto_url = ""

    @contextmanager
    def running(self) -> Iterator[ServedStack]:
        saved = dict(os.environ)
        try:
            moto = start_server(
                _serialized(DomainDispatcherApplication(create_backend_app)), 0, name="moto", security_headers=False
            )
            self._servers.append(moto)
            simulator = start_server(self.simulator, 0, name="ic-bench")
            self._servers.append(simulator)
            self.simulator.base_url = simulator.url
            self.moto_url = moto.url
            os.environ.update(
                {
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ENDPOINT_URL": moto.url,
                }
            )
            self.parameters = {
                **PARAMETERS,
                "InvoiceCloudBaseUrl": simulator.url,
                "InvoiceCloudPaymentUrlPrefixes": simulator.url + "/",
                "InvoiceCloudCustomerPortalUrl": simulator.url + "/portal/",
            }
            yield self
        finally:
            for server in reversed(self._servers):
                server.stop()
            self._servers.clear()
            os.environ.clear()
            os.environ.update(saved)
            caches.reset()

    def fresh(self) -> None:
        """Empty tables, buckets and secrets, provisioned again; this process's environment is every
        function's (for the fixtures), each function's own in :attr:`environments`."""
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=10).raise_for_status()
        caches.reset()
        resources = provision(self.names, self.secrets, sender_email=PARAMETERS["SenderEmail"])
        self.environments = function_environments(resources, self.parameters)
        for own in self.environments.values():
            os.environ.update(own)
        # The links' own function is measured with links on (off by default, and nothing else changes).
        self.environments["StatementLinksFunction"]["IC_STATEMENT_LINKS"] = "true"
        caches.reset()


# ---- the fixtures -----------------------------------------------------------------------------


# Every fixture's billing data is as of the same moment: conditions on it (a hold's ``billedAsOf``)
# then read the same on twins.
BILLED_AS_OF = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


def _tag() -> str:
    return uuid.uuid4().hex[:12]


def _account(number: str, *, registration_value: str = "") -> None:
    billing.put_account(
        Account(
            account_number=number,
            name="Bench Payer",
            address="1 Main St",
            city="Tampa",
            state="FL",
            zip="33601",
            email="payer@example.com",
            registration_hash=registration_hash(get_registration_hash_key(), registration_value)
            if registration_value
            else "",
            billed_as_of=BILLED_AS_OF,
        )
    )


def _invoice(number: str, invoice_number: str) -> Invoice:
    invoice = Invoice(
        account_number=number,
        invoice_number=invoice_number,
        billed_cents=5000,
        billed_as_of=BILLED_AS_OF,
    )
    billing.put_invoice(invoice)
    return invoice


def _pending_payment(tag: str, *, sub: str, started: datetime | None = None) -> str:
    """A PENDING payment of one 50.00 invoice of a new account (``started``: when its session began)."""
    now = clock.utc_now()
    started = started or now
    number = f"B-{tag}"
    _account(number)
    invoice = _invoice(number, "I-1")
    payment = Payment(
        payment_id=str(uuid.uuid4()),
        sub=sub,
        status=PaymentStatus.CREATED,
        lines=(PaymentLine(account_number=number, invoice_number="I-1", due_cents=5000),),
        created_at=started,
        session_expires_at=started + timedelta(minutes=30),
    )
    payments_store.create_payment(payment, [invoice], now, hold_until=started + timedelta(minutes=60))
    payments_store.mark_pending(payment, "https://example.invalid/pay")
    return payment.payment_id


def _postback_event(payment_id: str) -> dict[str, Any]:
    token = get_postback_key_ring().postback_token(payment_id)
    fields = {
        "PaymentGUID": f"G-{payment_id}",
        "Approved": "True",
        "PaymentAmount": "50.00",
        "BillerReference": payment_id,
        "ConvenienceFee": "0.00",
        "PaymentTypeID": "1",
        "CardType": "Visa",
        "PaymentDate": "11/25/2026 07:15:02 PM",
    }
    return http_event(
        "POST",
        f"/postback/{payment_id}/{token}",
        route="/postback/{paymentId}/{token}",
        path_parameters={"paymentId": payment_id, "token": token},
        sub=None,
        body=urlencode(fields),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def _scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": clock.timestamp(clock.utc_now()),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/bench"],
        "detail": {},
    }


@contextmanager
def _on_day(day: date) -> Iterator[None]:
    """This process's clock stopped at noon on ``day``, for a fixture's credits to fall on it at the
    same moment of its day as another fixture's (their items' keys then differ by the day alone)."""
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    with mock.patch.object(clock, "utc_now", lambda: moment):
        yield


def _paid_on(day: date, tag: str) -> tuple[str, ...]:
    """A payment approved (through the postback handler, in this process) on ``day``: its credit and
    its ledger entry fall on that day. Its tokens: the payment id, the day, and the credit's key
    (whose second part is a hash of the postback, different for each fixture)."""
    with _on_day(day):
        payment_id = _pending_payment(tag, sub=f"bench-{tag}")
        answer = load_function("postback").lambda_handler(_postback_event(payment_id), _Context())
    if answer["statusCode"] != 200:
        raise RuntimeError(f"the fixture's postback failed: {answer}")
    ref = InvoiceRef(account_number=f"B-{tag}", invoice_number="I-1")
    (credit_key,) = billing.get_invoices([ref])[ref].credits
    return payment_id, day.isoformat(), credit_key.partition("#")[2]


class _Context:
    function_name = "bench-fixture"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-fixture"
    aws_request_id = "bench-fixture"
    log_group_name = "/aws/lambda/bench-fixture"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _day(sample: int) -> date:
    """A day of its own for each sample, ten days apart (the reconciliation looks back three)."""
    return datetime.now(UTC).date() + timedelta(days=10 * (sample + 1))


def postback(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    payment_id = _pending_payment(tag, sub=f"bench-{tag}")
    return Fixture(_postback_event(payment_id), (tag, payment_id))


def start_payment(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    number, sub = f"B-{tag}", f"bench-{tag}"
    _account(number)
    _invoice(number, "I-1")
    links.put_link(links.Link(sub=sub, account_number=number, linked_at=clock.utc_now()))
    body = {"invoices": [{"accountNumber": number, "invoiceNumber": "I-1"}]}
    return Fixture(http_event("POST", "/payments", sub=sub, body=body), (tag,))


def accounts(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    number, sub = f"B-{tag}", f"bench-{tag}"
    _account(number)
    _invoice(number, "I-1")
    _invoice(number, "I-2")
    links.put_link(links.Link(sub=sub, account_number=number, linked_at=clock.utc_now()))
    return Fixture(http_event("GET", "/accounts", sub=sub), (tag,))


def refresh_balances(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    number = f"B-{tag}"
    _account(number)
    _invoice(number, "I-1")
    _invoice(number, "I-2")
    credential = stack.secrets.refresh_credential
    pair = f"{credential['username']}:{credential['secret']}"
    headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return Fixture(refresh_event(number, headers), (tag,))


def _bill(stack: ServedStack, number: str) -> None:
    """An account's invoice I-1 with its bill's PDF under statements/ in the inbound bucket."""
    _account(number)
    name = f"{number}/I-1.pdf"
    billing.put_invoice(
        Invoice(account_number=number, invoice_number="I-1", billed_cents=5000, billed_as_of=BILLED_AS_OF,
                statement_file=name)
    )  # fmt: skip
    boto3.client("s3").put_object(
        Bucket=stack.names.inbound_bucket, Key=f"statements/{name}", Body=b"%PDF-1.4\n%%EOF\n",
        ContentType="application/pdf",
    )  # fmt: skip


def statements(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    number, sub = f"B-{tag}", f"bench-{tag}"
    _bill(stack, number)
    links.put_link(links.Link(sub=sub, account_number=number, linked_at=clock.utc_now()))
    event = http_event(
        "GET",
        f"/accounts/{number}/invoices/I-1/statement",
        route="/accounts/{accountNumber}/invoices/{invoiceNumber}/statement",
        path_parameters={"accountNumber": number, "invoiceNumber": "I-1"},
        sub=sub,
    )
    return Fixture(event, (tag,))


def statement_links(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    number = f"B-{tag}"
    _bill(stack, number)
    link = StatementLink(
        ref=InvoiceRef(account_number=number, invoice_number="I-1"), expires_at=clock.utc_now() + timedelta(hours=1)
    )
    token = statement_link_token(KeyRing.from_secret(stack.secrets.statement_link_keys), link)
    event = http_event(
        "GET", f"/statement-links/{token}", route="/statement-links/{token}", path_parameters={"token": token}, sub=None
    )
    return Fixture(event, (tag,))


def payments(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    sub = f"bench-{tag}"
    payment_id = _pending_payment(tag, sub=sub)
    event = http_event(
        "GET",
        f"/payments/{payment_id}",
        route="/payments/{paymentId}",
        path_parameters={"paymentId": payment_id},
        sub=sub,
    )
    return Fixture(event, (tag, payment_id))


def register_user(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    number = f"B-{tag}"
    _account(number, registration_value=f"REG-{tag}")
    _invoice(number, "I-1")
    stack.simulator.put_customer_record(CustomerRecord(number, registered=True))
    body = {"accounts": [{"accountNumber": number, "registrationValue": f"REG-{tag}"}]}
    event = http_event("POST", "/registrations", sub=f"bench-{tag}", body=body, email_verified=True)
    return Fixture(event, (tag,))


def expire_payments(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    started = clock.utc_now() - timedelta(hours=2)
    payment_id = _pending_payment(tag, sub=f"bench-{tag}", started=started)
    return Fixture(_scheduled_event(), (tag, payment_id))


def export_payments(stack: ServedStack, sample: int) -> Fixture:
    tag, day = _tag(), _day(sample)
    return Fixture({"day": day.isoformat()}, (tag, *_paid_on(day, tag)))


def export_changes(stack: ServedStack, sample: int) -> Fixture:
    day = datetime.now(UTC).date() - timedelta(days=2 + sample)
    return Fixture({"day": day.isoformat()}, (day.isoformat(),))


def import_billing(stack: ServedStack, sample: int) -> Fixture:
    tag = _tag()
    as_of = clock.utc_now() - timedelta(days=1, minutes=sample + 1)
    stamp = as_of.strftime("%Y%m%dT%H%M%SZ")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for account in range(3):
        for invoice in range(2):
            writer.writerow(
                [
                    f"B-{tag}-{account}",
                    f"Bench Payer {account}",
                    f"{account} Orchard Lane",
                    "Tampa",
                    "FL",
                    "33601",
                    f"payer{account}@example.com",
                    f"REG-{tag}-{account}",
                    f"INV-{account}-{invoice}",
                    "6",
                    "10/28/2026",
                    "11/20/2026",
                    f"{10 + account}.{invoice:02d}",
                    "",
                    "true",
                    "1.00",
                    "1.00",
                ]
            )
    key = f"billing/{stamp}.csv"
    data = buffer.getvalue().encode()
    boto3.client("s3").put_object(Bucket=stack.names.billing_bucket, Key=key, Body=data)
    event = object_created_event(stack.names.billing_bucket, key, size=len(data))
    return Fixture(event, (tag, stamp, clock.timestamp(as_of)))


def reconcile_payments(stack: ServedStack, sample: int) -> Fixture:
    tag, day = _tag(), _day(sample)
    tokens = _paid_on(day, tag)
    payment_id = tokens[0]
    header = (
        "TransactionType,PaymentGUID,BillerReference,AccountNumber,InvoiceNumber,Amount,ConvenienceFee,TransactionDate"
    )
    row = f"PAYMENT,G-{payment_id},{payment_id},B-{tag},I-1,50.00,0.00,{day.isoformat()}T12:00:00Z"
    key = f"invoicecloud/{day.isoformat()}.csv"
    data = f"{header}\r\n{row}\r\n".encode()
    boto3.client("s3").put_object(Bucket=stack.names.inbound_bucket, Key=key, Body=data)
    event = object_created_event(stack.names.inbound_bucket, key, size=len(data))
    return Fixture(event, (tag, *tokens))


@dataclass(frozen=True)
class FirstRequest:
    function: str  # the logical id
    request: str  # what the first invocation is, for the report
    prepare: Callable[[ServedStack, int], Fixture]
    status: int | None = 200  # the statusCode expected (None: not an HTTP function)


FIRST_REQUESTS = {
    first.function: first
    for first in (
        FirstRequest("PostbackFunction", "an approved postback", postback),
        FirstRequest("StartPaymentFunction", "POST /payments (Invoice Cloud simulated)", start_payment, 201),
        FirstRequest("AccountsFunction", "GET /accounts (1 account, 2 invoices)", accounts),
        FirstRequest("PaymentsFunction", "GET /payments/{id}", payments),
        FirstRequest("StatementsFunction", "GET /accounts/{n}/invoices/{i}/statement", statements),
        FirstRequest("StatementLinksFunction", "GET /statement-links/{token}", statement_links, 302),
        FirstRequest("RefreshBalancesFunction", "GET /invoicecloud/accounts/{n} (2 invoices)", refresh_balances),
        FirstRequest("RegisterUserFunction", "POST /registrations (1 account)", register_user),
        FirstRequest("ExpirePaymentsFunction", "the scheduled run (1 payment to expire)", expire_payments, None),
        FirstRequest("ExportPaymentsFunction", "a day's export (1 credit)", export_payments, None),
        FirstRequest("ExportChangesFunction", "a day's change log (no changes)", export_changes, None),
        FirstRequest("ImportBillingFunction", "a partial billing file (3 accounts)", import_billing, None),
        FirstRequest(
            "ReconcilePaymentsFunction", "Invoice Cloud's file of a day (1 payment)", reconcile_payments, None
        ),
    )
}


# ---- the floor's calls ------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """Recorded parameters as JSON (bytes as ``{"__bytes__": base64}``)."""
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    return value


def swapped_calls(calls: list[dict[str, Any]], recorded_on: Fixture, replayed_on: Fixture) -> list[dict[str, Any]]:
    """The calls recorded on one fixture, as the same function would make them on another: the
    fixture's tokens swapped, and the ids the function made itself (UUIDs) made anew."""
    kept = [call for call in calls if call["service"] in REPLAYED_SERVICES]
    text = json.dumps(kept)
    for old, new in zip(recorded_on.tokens, replayed_on.tokens, strict=True):
        text = text.replace(old, new)
    made: dict[str, str] = {}

    def fresh(match: re.Match[str]) -> str:
        found = match.group(0)
        if any(found in token for token in replayed_on.tokens):
            return found
        return made.setdefault(found, str(uuid.uuid4()))

    swapped: list[dict[str, Any]] = json.loads(_UUID.sub(fresh, text))
    return copy.deepcopy(swapped)
