"""Test helpers: billing data, API Gateway HTTP API (v2) events, and the functions. (A test that changes
the environment forgets what the layer cached with ``avocette.caches.reset()``.)"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from avocette import money
from avocette.domain.billing import Account, Invoice
from avocette.domain.registration import registration_hash
from avocette.settings.registration import get_registration_hash_key
from avocette.store import billing, links

from sandbox.invoicecloud import InvoiceCloudSimulator
from sandbox.stack import StackNames, StackSecrets
from stackdef.functions import load_module
from stackdef.template import function_specs


@dataclass
class Stack:
    names: StackNames
    secrets: StackSecrets
    env: dict[str, str]
    simulator: InvoiceCloudSimulator
    simulator_url: str
    api_base: str


# ---- billing data -------------------------------------------------------------------------------

AS_OF = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def add_account(
    number: str,
    *,
    name: str = "Pat Payer",
    email: str = "pat@example.com",
    address: str = "1 Main St",
    linked_to: tuple[str, ...] = (),
    registration_value: str | None = None,
) -> Account:
    """An account as a billing file would leave it (its registration value only as the keyed hash)."""
    account = Account(
        account_number=number,
        name=name,
        address=address,
        city="Tampa",
        state="FL",
        zip="33601",
        email=email,
        registration_hash=registration_hash(get_registration_hash_key(), registration_value)
        if registration_value
        else "",
        billed_as_of=AS_OF,
    )
    billing.put_account(account)
    for sub in linked_to:
        links.put_link(links.Link(sub=sub, account_number=number, linked_at=AS_OF))
    return account


def add_invoice(
    account: str,
    number: str,
    amount: str,
    *,
    minimum: str | None = None,
    allow_partial: bool | None = None,
    type_id: int | None = None,
    cc_fee: str | None = None,
    credits: dict[str, Any] | None = None,
    due: date = date(2026, 11, 20),
    statement_file: str | None = None,
) -> Invoice:
    invoice = Invoice(
        account_number=account,
        invoice_number=number,
        invoice_date=date(2026, 10, 28),
        due_date=due,
        type_id=type_id,
        cc_service_fee_cents=money.parse_cents(cc_fee) if cc_fee else None,
        minimum_amount_due_cents=money.parse_cents(minimum) if minimum else None,
        allow_partial_payments=allow_partial,
        billed_cents=money.parse_cents(amount),
        billed_as_of=AS_OF,
        credits=credits or {},
        statement_file=statement_file,
    )
    billing.put_invoice(invoice)
    return invoice


PDF = b"%PDF-1.4\n% a test bill\n%%EOF\n"


def put_statement(stack: Stack, name: str, body: bytes = PDF) -> str:
    """A bill's PDF in the stack's inbound bucket under statements/ (as the biller drops it); its key."""
    import boto3

    key = f"statements/{name}"
    boto3.client("s3").put_object(Bucket=stack.names.inbound_bucket, Key=key, Body=body, ContentType="application/pdf")
    return key


def get_statement(sub: str, account: str, invoice: str, *, raw_path: str | None = None) -> HttpResult:
    """GET /accounts/{accountNumber}/invoices/{invoiceNumber}/statement, as API Gateway passes it on."""
    return invoke(
        "statements",
        http_event(
            "GET",
            raw_path or f"/accounts/{account}/invoices/{invoice}/statement",
            route="/accounts/{accountNumber}/invoices/{invoiceNumber}/statement",
            path_parameters={"accountNumber": account, "invoiceNumber": invoice},
            sub=sub,
        ),
    )


def open_statement_link(token: str) -> HttpResult:
    """GET /statement-links/{token}, without a JWT (as Invoice Cloud's page would open it)."""
    return invoke(
        "statement_links",
        http_event(
            "GET",
            f"/statement-links/{token}",
            route="/statement-links/{token}",
            path_parameters={"token": token},
            sub=None,
        ),
    )


def get_invoice(account: str, number: str) -> Invoice:
    from avocette.domain.billing import InvoiceRef

    ref = InvoiceRef(account_number=account, invoice_number=number)
    return billing.get_invoices([ref])[ref]


# ---- API Gateway HTTP API events ----------------------------------------------------------------


def http_event(
    method: str,
    path: str,
    *,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
    sub: str | None = "alice",
    email: str | None = None,
    email_verified: bool = True,
    body: str | bytes | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    source_ip: str = "198.51.100.7",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the JWT authorizer would pass it on."""
    all_headers = {"content-type": "application/json", "user-agent": "pytest"}
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    if isinstance(body, dict | list):
        text: str | None = json.dumps(body)
    elif isinstance(body, bytes):
        text = body.decode()
    else:
        text = body
    if text is not None and base64_body:
        text = base64.b64encode(text.encode()).decode()
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "api1234",
        "domainName": "api1234.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "api1234",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "pytest"},
        "requestId": str(uuid.uuid4()),
        "routeKey": f"{method} {route or path}",
        "stage": "$default",
        "time": "25/Nov/2026:19:11:00 +0000",
        "timeEpoch": 1795633860000,
    }
    if sub is not None:
        claims: dict[str, Any] = {"sub": sub, "iss": "https://login.avocette.test/", "aud": "avocette-portal"}
        claims["email"] = email or f"{sub}@example.com"
        claims["email_verified"] = "true" if email_verified else "false"
        request_context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route or path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": request_context,
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if text is not None:
        event["body"] = text
    return event


@dataclass
class FakeContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def load_function(name: str) -> ModuleType:
    """The handler module of ``functions/<name>/``, loaded as the sandbox loads it."""
    (spec,) = [spec for spec in function_specs() if spec.code_dir.name == name]
    return load_module(spec)


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def invoke(function: str, event: dict[str, Any]) -> HttpResult:
    answer = load_function(function).lambda_handler(event, FakeContext())
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return HttpResult(status=answer["statusCode"], headers=answer.get("headers") or {}, body=body)


def start_payment(sub: str, invoices: list[tuple[str, str]], *, key: str | None = None, body: Any = None) -> HttpResult:
    payload = (
        body if body is not None else {"invoices": [{"accountNumber": a, "invoiceNumber": i} for a, i in invoices]}
    )
    headers = {"Idempotency-Key": key} if key else None
    return invoke("start_payment", http_event("POST", "/payments", sub=sub, body=payload, headers=headers))


def get_payment(sub: str, payment_id: str) -> HttpResult:
    return invoke(
        "payments",
        http_event(
            "GET",
            f"/payments/{payment_id}",
            route="/payments/{paymentId}",
            path_parameters={"paymentId": payment_id},
            sub=sub,
        ),
    )


def session_id_of(payment_url: str) -> str:
    return payment_url.rstrip("/").rsplit("/", 1)[-1]


# ---- postbacks ----------------------------------------------------------------------------------


def postback_token(stack: Stack, payment_id: str, key_id: str | None = None) -> str:
    from avocette.security import KeyRing

    secret = dict(stack.secrets.postback_keys)
    if key_id is not None:
        secret["current"] = key_id
    return KeyRing.from_secret(secret).postback_token(payment_id)


def postback_event(
    stack: Stack,
    payment_id: str,
    fields: dict[str, str],
    *,
    token: str | bool | None = True,
    in_query: bool = False,
    source_ip: str = "198.51.100.7",
) -> dict[str, Any]:
    """A postback as API Gateway passes it to the postback function (no JWT): the token in the path
    (``token=None`` leaves the path's token empty), the fields in the body or the query string."""
    path_token = postback_token(stack, payment_id) if token is True else (token or "")
    query: dict[str, str] = {}
    body = None
    if in_query:
        query.update(fields)
    else:
        body = urlencode(fields)
    return http_event(
        "POST",
        f"/postback/{payment_id}/{path_token}",
        route="/postback/{paymentId}/{token}",
        path_parameters={"paymentId": payment_id, "token": path_token},
        sub=None,
        body=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        query=query,
        source_ip=source_ip,
    )


def send_postback(stack: Stack, payment_id: str, fields: dict[str, str], **options: Any) -> HttpResult:
    """Deliver a postback to the postback function (see :func:`postback_event` for the options)."""
    return invoke("postback", postback_event(stack, payment_id, fields, **options))


def approved_fields(
    payment_id: str, amount: str, *, invoice: str = "", guid: str = "G-1", **extra: str
) -> dict[str, str]:
    fields = {
        "PaymentGUID": guid,
        "Approved": "True",
        "PaymentAmount": amount,
        "InvoiceNumber": invoice,
        "BillerReference": payment_id,
        "ConvenienceFee": "1.00",
        "CardType": "Visa",
        "PaymentTypeID": "1",
        "PaymentDate": "11/25/2026 07:15:02 PM",
        "CustomerName": "Alice Anders",
        "CustomerAddress": "12 Orchard Lane",
        "RemoteIP": "203.0.113.9",
    }
    fields.update(extra)
    return fields


def declined_fields(payment_id: str, amount: str, *, guid: str = "G-0", invoice: str = "") -> dict[str, str]:
    fields = approved_fields(payment_id, amount, invoice=invoice, guid=guid)
    fields["Approved"] = "False"
    return fields


def table_items(stack: Stack, prefix: str | None = None) -> list[dict[str, Any]]:
    """Every item of the app table (optionally those whose PK starts with ``prefix``)."""
    from avocette.store.table import deserialize, dynamodb

    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": stack.names.app_table}
    while True:
        answer = dynamodb().scan(**request)
        items.extend(deserialize(raw) for raw in answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    if prefix:
        items = [item for item in items if str(item["PK"]).startswith(prefix)]
    return sorted(items, key=lambda item: (item["PK"], item["SK"]))


# ---- Invoice Cloud's balance refresh ------------------------------------------------------------


def refresh_headers(
    stack: Stack,
    account_number: str,
    *,
    scheme: str = "basic",
    secret: str | None = None,
    username: str | None = None,
    header: str = "X-Api-Key",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers Invoice Cloud sends with a balance refresh, with the stack's credential unless told."""
    import secrets as random
    import time

    from avocette.security import refresh_signature

    credential = stack.secrets.refresh_credential
    secret = credential["secret"] if secret is None else secret
    if scheme == "basic":
        pair = f"{credential['username'] if username is None else username}:{secret}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    if scheme == "header":
        return {header: secret}
    moment = str(int(time.time()) if timestamp is None else timestamp)
    once = nonce or random.token_urlsafe(18)
    return {
        "X-IC-Timestamp": moment,
        "X-IC-Nonce": once,
        "X-IC-Signature": refresh_signature(secret.encode(), account_number, moment, once),
    }


def refresh_event(
    account_number: str, headers: dict[str, str] | None = None, *, source_ip: str = "198.51.100.7"
) -> dict[str, Any]:
    """A balance refresh as API Gateway passes it to its function (no JWT)."""
    from urllib.parse import quote

    return http_event(
        "GET",
        "/invoicecloud/accounts/" + quote(account_number, safe=""),
        route="/invoicecloud/accounts/{accountNumber}",
        path_parameters={"accountNumber": account_number},
        sub=None,
        headers=headers,
        source_ip=source_ip,
    )


def refresh(stack: Stack, account_number: str, **options: Any) -> HttpResult:
    """Ask the refresh function for an account's balances with the stack's credential (basic unless
    ``scheme`` says otherwise; the stack's IC_REFRESH_AUTH must agree)."""
    source_ip = options.pop("source_ip", "198.51.100.7")
    return invoke("refresh_balances", refresh_event(account_number, refresh_headers(stack, account_number, **options),
                                                    source_ip=source_ip))  # fmt: skip
