"""The Invoice Cloud simulator: CPV2 API, hosted payment pages, postbacks, CloudManagement, control API.

One WSGI app, all state in memory behind one re-entrant lock, because the sandbox server answers
each request on its own thread and postbacks are delivered from background threads. The
simulator is strict where the real service is only documented loosely (see ``validation.py``)
and configurable where its behaviour is unknown (DESIGN.md §4a), so that the tests can run our
client against every plausible answer.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud import pages
from sandbox.invoicecloud.validation import (
    RequestValidationError,
    parse_cpv2_json,
    validate_ach_form,
    validate_card_form,
    validate_cpv2_request,
)

__all__ = ["DEFAULT_CONFIG", "CustomerRecord", "InvoiceCloudSimulator"]

logger = logging.getLogger(__name__)

WEB_SERVICES_NAMESPACE: Final = "https://www.invoicecloud.com/portal/webservices/"
CLOUD_MANAGEMENT_PATH: Final = "/portal/webservices/CloudManagement.asmx"
STATIC_DIR: Final = Path(__file__).parent / "static"
DEFAULT_BASE_URL: Final = "http://127.0.0.1:3001"
REMOTE_IP: Final = "127.0.0.1"
POSTBACK_TIMEOUT_SECONDS: Final = 10.0
MAX_BODY_BYTES: Final = 1024 * 1024

APPROVING_CARD: Final = "4111111111111111"
APPROVING_ROUTING_NUMBER: Final = "011000015"
DECLINING_ACCOUNT_SUFFIX: Final = "0002"

JSON_MIMETYPE: Final = "application/json"
XML_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
FORM_MIMETYPE: Final = "application/x-www-form-urlencoded"
CREDENTIAL_FIELDS: Final = frozenset({"BillerGUID", "WebServiceKey"})
MASKED_FIELDS: Final = frozenset({"RegistrationValue", "PIN"})

_PRINT_HASH: Final = base64.b64encode(hashlib.sha256(pages.PRINT_HANDLER.encode()).digest()).decode()


def _payment_time_zone() -> tzinfo:
    """Invoice Cloud is in Massachusetts; its postback PaymentDate is assumed to be Eastern time."""
    try:
        return ZoneInfo("America/New_York")
    except ZoneInfoNotFoundError:  # no tz database: UTC is still a valid, if different, clock
        return UTC


PAYMENT_TIME_ZONE: Final = _payment_time_zone()

MethodKind = Literal["CARD", "ACH"]


# =========================================================================== customer records


@dataclass
class CustomerRecord:
    """One CloudManagement customer record, as ViewCustomerRecord reports it."""

    account_number: str
    registered: bool
    registration_date: str | None = None  # MM/DD/YYYY
    login_name: str | None = None
    auto_pay: bool = False
    paper_invoices: bool = True
    customer_name: str = ""
    email_address: str = ""
    address1: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    registration_value: str = ""


# UpdateCustomerRecord form field -> CustomerRecord attribute; other fields are recorded, not kept.
_UPDATABLE_FIELDS: Final = {
    "CustomerName": "customer_name",
    "Address1": "address1",
    "City": "city",
    "State": "state",
    "Zip": "zip",
    "EmailAddress": "email_address",
    "RegistrationValue": "registration_value",
}


@dataclass
class _CustomerEntry:
    record: CustomerRecord
    updates: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "accountNumber": record.account_number,
            "registered": record.registered,
            "registrationDate": record.registration_date,
            "loginName": record.login_name,
            "autoPay": record.auto_pay,
            "paperInvoices": record.paper_invoices,
            "customerName": record.customer_name,
            "emailAddress": record.email_address,
            "address1": record.address1,
            "city": record.city,
            "state": record.state,
            "zip": record.zip,
            "registrationValue": "***" if record.registration_value else "",
            "updates": [{"fields": dict(update)} for update in self.updates],
        }


# =========================================================================== configuration

DEFAULT_CONFIG: Final[Mapping[str, Any]] = {
    "postbackMode": "single",
    "feeInAmount": False,
    "guidPerAttempt": True,
    "invoiceNumberWhenSeveral": "blank",
    "amountFormat": "plain",
    "postbackDelaySeconds": 0,
    "duplicatePostbacks": 0,
    "reorderPostbacks": False,
    "dropPostbacks": False,
    "postbackRetries": 3,
    "postbackRetryDelaySeconds": 1.0,
    "sessionMinutes": 30,
    "apiFault": None,
    "apiFaultCount": None,
    "apiDelaySeconds": 0,
    "apiTimeoutSeconds": 15,
    "customerApiFault": None,
    "customerApiFaultCount": None,
    "customerApiDelaySeconds": 0,
    "customerApiTimeoutSeconds": 15,
}

_FAULTS: Final = ("500", "502", "503", "504", "timeout", "malformed", "reject")


@dataclass(frozen=True)
class _Rule:
    accepts: Callable[[Any], bool]
    expected: str


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(*choices: str) -> _Rule:
    return _Rule(lambda value: isinstance(value, str) and value in choices, "one of " + ", ".join(choices))


def _nullable(rule: _Rule) -> _Rule:
    return _Rule(lambda value: value is None or rule.accepts(value), f"{rule.expected}, or null")


_BOOLEAN: Final = _Rule(lambda value: isinstance(value, bool), "true or false")
_COUNT: Final = _Rule(lambda value: _is_integer(value) and value >= 0, "an integer >= 0")
_POSITIVE_COUNT: Final = _Rule(lambda value: _is_integer(value) and value >= 1, "an integer >= 1")
_SECONDS: Final = _Rule(lambda value: _is_number(value) and value >= 0, "a number >= 0")

_CONFIG_RULES: Final[Mapping[str, _Rule]] = {
    "postbackMode": _one_of("single", "perInvoice", "perAccount"),
    "feeInAmount": _BOOLEAN,
    "guidPerAttempt": _BOOLEAN,
    "invoiceNumberWhenSeveral": _one_of("blank", "first"),
    "amountFormat": _one_of("plain", "dollar", "integer"),
    "postbackDelaySeconds": _SECONDS,
    "duplicatePostbacks": _COUNT,
    "reorderPostbacks": _BOOLEAN,
    "dropPostbacks": _BOOLEAN,
    "postbackRetries": _COUNT,
    "postbackRetryDelaySeconds": _SECONDS,
    "sessionMinutes": _SECONDS,
    "apiFault": _nullable(_one_of(*_FAULTS)),
    "apiFaultCount": _nullable(_POSITIVE_COUNT),
    "apiDelaySeconds": _SECONDS,
    "apiTimeoutSeconds": _SECONDS,
    "customerApiFault": _nullable(_one_of(*_FAULTS)),
    "customerApiFaultCount": _nullable(_POSITIVE_COUNT),
    "customerApiDelaySeconds": _SECONDS,
    "customerApiTimeoutSeconds": _SECONDS,
}


class ControlError(Exception):
    """A control API request the simulator refuses; carries the HTTP status to answer with."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def validate_config_update(update: Any) -> dict[str, Any]:
    """Check a ``POST /_sim/config`` body: known keys only, each with the type its default has."""
    if not isinstance(update, dict):
        raise ControlError(400, "invalid_config", "The config must be a JSON object")
    for key, value in update.items():
        rule = _CONFIG_RULES.get(key)
        if rule is None:
            raise ControlError(400, "invalid_config", f"Unknown config key {key}")
        if not rule.accepts(value):
            raise ControlError(400, "invalid_config", f"{key} must be {rule.expected}")
    return dict(update)


# =========================================================================== money and time


def money(amount: Decimal) -> str:
    """Two decimals, no symbol: what ConvenienceFee and the plain PaymentAmount look like."""
    return f"{amount:.2f}"


def dollars(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def format_postback_amount(amount: Decimal, style: str) -> str:
    """PaymentAmount in one of the shapes Invoice Cloud is known to send (DESIGN.md §4)."""
    if style == "dollar":
        return dollars(amount)
    if style == "integer" and amount == amount.to_integral_value():
        return f"{amount:.0f}"
    return money(amount)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _payment_date(moment: datetime) -> str:
    return moment.astimezone(PAYMENT_TIME_ZONE).strftime("%m/%d/%Y %I:%M:%S %p")


def _jsonable(value: Any) -> Any:
    """The stored request with its Decimals turned back into JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


# =========================================================================== session state


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice of a session, flattened from ``Customers[i].Invoices[j]``; ``key`` is ``"i-j"``."""

    key: str
    customer_index: int
    account_number: str
    display_account_number: str
    invoice_number: str
    invoice_date: str
    due_date: str
    balance_due: Decimal
    cc_fee: Decimal
    ach_fee: Decimal

    def fee_for(self, kind: MethodKind) -> Decimal:
        return self.cc_fee if kind == "CARD" else self.ach_fee


@dataclass(frozen=True)
class PaymentMethod:
    """What a payment keeps of the payer's card or bank account: the brand and the last four digits."""

    kind: MethodKind
    card_type: str
    last4: str

    @property
    def description(self) -> str:
        if self.kind == "CARD":
            return f"{self.card_type} ending in {self.last4}"
        return f"Bank account ending in {self.last4}"


def card_brand(number: str) -> str:
    """The card type Invoice Cloud reports in CardType, from the number's prefix."""
    if number.startswith("4"):
        return "Visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "MasterCard"
    if number[:2] in {"34", "37"}:
        return "American Express"
    if number.startswith(("6011", "65")):
        return "Discover"
    return "Card"


@dataclass
class DeliveryRecord:
    """One postback to send (a duplicate is its own record), with every try to send it."""

    fields: dict[str, str]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "attempts": [dict(a) for a in self.attempts], "delivered": self.delivered}


@dataclass
class Attempt:
    """One press of "Pay": approved or declined, with the postbacks it caused."""

    payment_guid: str
    approved: bool
    method: PaymentMethod
    lines: tuple[InvoiceLine, ...]
    amount: Decimal
    fee: Decimal
    at: datetime
    postbacks: list[DeliveryRecord] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def to_json(self) -> dict[str, Any]:
        return {
            "paymentGuid": self.payment_guid,
            "approved": self.approved,
            "method": self.method.kind,
            "cardType": self.method.card_type,
            "last4": self.method.last4,
            "amount": money(self.amount),
            "fee": money(self.fee),
            "at": _rfc3339(self.at),
            "invoices": [
                {
                    "accountNumber": line.account_number,
                    "invoiceNumber": line.invoice_number,
                    "amount": money(line.balance_due),
                }
                for line in self.lines
            ],
        }


@dataclass
class Session:
    """One CPV2 session: the request as received and everything the payer did with it."""

    session_id: str
    request: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    lines: tuple[InvoiceLine, ...]
    billing: pages.BillingForm
    removed: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    postbacks: list[DeliveryRecord] = field(default_factory=list)
    first_guid: str | None = None
    notice: str = ""
    discarded: threading.Event = field(default_factory=threading.Event)

    def state(self, now: datetime) -> str:
        if self.approved_attempt() is not None:
            return "APPROVED"
        return "EXPIRED" if now >= self.expires_at else "OPEN"

    def approved_attempt(self) -> Attempt | None:
        return next((attempt for attempt in self.attempts if attempt.approved), None)

    def selected_lines(self) -> tuple[InvoiceLine, ...]:
        return tuple(line for line in self.lines if line.key not in self.removed)

    def customers(self) -> list[dict[str, Any]]:
        return list(self.request["Customers"])

    @property
    def allow_remove(self) -> bool:
        options = self.request.get("PageResultOptions", {}).get("InvoiceOptions", {})
        return options.get("AllowRemove") is True

    def allows(self, kind: MethodKind) -> bool:
        name = "AllowCCPayment" if kind == "CARD" else "AllowACHPayment"
        return self.request.get(name) is not False

    @property
    def return_url(self) -> str:
        return str(self.request.get("ReturnURL", ""))

    @property
    def postback_url(self) -> str:
        return str(self.request.get("PostBackURL", ""))

    @property
    def biller_reference(self) -> str:
        return str(self.request.get("BillerReference", ""))


def _invoice_lines(request: Mapping[str, Any]) -> tuple[InvoiceLine, ...]:
    lines = []
    for customer_index, customer in enumerate(request["Customers"]):
        account = customer["AccountNumber"]
        display = customer.get("DisplayAccountNumber") or account
        for invoice_index, invoice in enumerate(customer.get("Invoices", [])):
            lines.append(
                InvoiceLine(
                    key=f"{customer_index}-{invoice_index}",
                    customer_index=customer_index,
                    account_number=account,
                    display_account_number=display,
                    invoice_number=invoice["InvoiceNumber"],
                    invoice_date=invoice.get("InvoiceDate", ""),
                    due_date=invoice.get("DueDate", ""),
                    balance_due=Decimal(invoice.get("BalanceDue", 0)),
                    cc_fee=Decimal(invoice.get("CCServiceFee", 0)),
                    ach_fee=Decimal(invoice.get("ACHServiceFee", 0)),
                )
            )
    return tuple(lines)


def _billing_from_request(request: Mapping[str, Any]) -> pages.BillingForm:
    first = request["Customers"][0]
    return pages.BillingForm(
        name=first.get("Name", ""),
        address=first.get("Address", ""),
        city=first.get("City", ""),
        state=first.get("State", ""),
        zip=first.get("Zip", ""),
        email=first.get("EmailAddress", ""),
    )


# =========================================================================== postbacks


def build_postbacks(
    *, biller_guid: str, session: Session, attempt: Attempt, config: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The form fields of every postback one attempt causes, in logical order (fee on the first)."""
    groups = _postback_groups(attempt.lines, config["postbackMode"])
    billing = session.billing
    postbacks = []
    for position, group in enumerate(groups):
        amount = sum((line.balance_due for line in group), Decimal(0))
        fee = attempt.fee if position == 0 else Decimal(0)
        paid = amount + fee if config["feeInAmount"] else amount
        postbacks.append(
            {
                "BillerGUID": biller_guid,
                "PaymentDate": _payment_date(attempt.at),
                "InvoiceNumber": _postback_invoice_number(group, config["invoiceNumberWhenSeveral"]),
                "Approved": "True" if attempt.approved else "False",
                "CustomerName": billing.name,
                "CustomerAddress": billing.address,
                "CustomerCity": billing.city,
                "CustomerState": billing.state,
                "CustomerZip": billing.zip,
                "PaymentGUID": attempt.payment_guid,
                "PaymentAmount": format_postback_amount(paid, config["amountFormat"]),
                "PaymentDescription": "Online payment: " + ", ".join(line.invoice_number for line in group),
                "PaymentTypeID": "1" if attempt.method.kind == "CARD" else "2",
                "CardType": attempt.method.card_type,
                "PaymentMessage": "Approved" if attempt.approved else "Declined",
                "BillerReference": session.biller_reference,
                "ConvenienceFee": money(fee),
                "RemoteIP": REMOTE_IP,
            }
        )
    return postbacks


def _postback_groups(lines: Sequence[InvoiceLine], mode: str) -> list[tuple[InvoiceLine, ...]]:
    if mode == "perInvoice":
        return [(line,) for line in lines]
    if mode == "perAccount":
        by_account: dict[int, list[InvoiceLine]] = {}
        for line in lines:
            by_account.setdefault(line.customer_index, []).append(line)
        return [tuple(group) for group in by_account.values()]
    return [tuple(lines)]


def _postback_invoice_number(group: Sequence[InvoiceLine], when_several: str) -> str:
    if len(group) == 1 or when_several == "first":
        return group[0].invoice_number
    return ""


def _plan_deliveries(postbacks: Sequence[dict[str, str]], config: Mapping[str, Any]) -> list[DeliveryRecord]:
    """Apply the ordering and duplication faults: the records in the order they will be sent."""
    ordered = list(reversed(postbacks)) if config["reorderPostbacks"] else list(postbacks)
    copies = 1 + int(config["duplicatePostbacks"])
    return [DeliveryRecord(fields=dict(fields)) for fields in ordered for _ in range(copies)]


def _delivery_deadline(attempt: Attempt, config: Mapping[str, Any]) -> float:
    """The longest a delivery thread can take, so a waiting control call cannot hang forever."""
    tries = 1 + int(config["postbackRetries"])
    per_try = POSTBACK_TIMEOUT_SECONDS + float(config["postbackRetryDelaySeconds"])
    return float(config["postbackDelaySeconds"]) + len(attempt.postbacks) * tries * per_try + 5.0


# =========================================================================== HTTP helpers


class _Request(Request):
    max_content_length = MAX_BODY_BYTES


def _json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype=JSON_MIMETYPE)


def _cpv2_response(message: str, data: Any = None, status: int = 200) -> Response:
    return _json_response({"Message": message, "Data": data}, status)


def _control_error(error: ControlError) -> Response:
    return _json_response({"error": error.error, "message": error.message}, error.status)


def _gateway_error(status: int) -> Response:
    """What a load balancer in front of Invoice Cloud answers: HTML, not the API's JSON."""
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(status, "Error")
    body = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    return Response(body, status=status, mimetype="text/html")


def _xml_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type=XML_CONTENT_TYPE)


def _soap_fault(message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Server</faultcode><faultstring>{xml_escape(message)}</faultstring><detail />"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )
    return _xml_response(body, 500)


def _customer_record_xml(record: CustomerRecord) -> str:
    def element(name: str, value: str | bool | None) -> str:
        text = str(value).lower() if isinstance(value, bool) else xml_escape(value or "")
        return f"  <{name}>{text}</{name}>\n"

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<CustomerRecord xmlns="{WEB_SERVICES_NAMESPACE}">\n'
        + element("AccountNumber", record.account_number)
        + element("Registered", record.registered)
        + element("RegistrationDate", record.registration_date)
        + element("LoginName", record.login_name)
        + element("AutoPay", record.auto_pay)
        + element("PaperInvoices", record.paper_invoices)
        + "</CustomerRecord>"
    )


def _html_response(body: str, status: int = 200, css_url: str = "") -> Response:
    """A hosted page with headers a payment page should carry: no caching, no sniffing, tight CSP."""
    style_sources = "'self'"
    if css_url:
        parts = urlsplit(css_url)
        style_sources += f" {parts.scheme}://{parts.netloc}"
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {style_sources}; img-src 'self' data:; form-action 'self'; "
        f"base-uri 'none'; script-src 'unsafe-hashes' 'sha256-{_PRINT_HASH}'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _see_other(location: str) -> Response:
    response = Response("", status=303)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response


_URL_MAP: Final = Map(
    [
        Rule("/", endpoint="index", methods=["GET"]),
        Rule("/static/ic.css", endpoint="css", methods=["GET"]),
        Rule("/cloudpaymentsapi/v2", endpoint="cpv2", methods=["POST"]),
        Rule("/cloudpayments/<session_id>", endpoint="hosted_start", methods=["GET"]),
        Rule("/cloudpayments/<session_id>/<step>", endpoint="hosted_step", methods=["GET", "POST"]),
        Rule(f"{CLOUD_MANAGEMENT_PATH}/ViewCustomerRecord", endpoint="view_customer", methods=["POST"]),
        Rule(f"{CLOUD_MANAGEMENT_PATH}/UpdateCustomerRecord", endpoint="update_customer", methods=["POST"]),
        Rule("/_sim/sessions", endpoint="list_sessions", methods=["GET"]),
        Rule("/_sim/sessions/<session_id>", endpoint="show_session", methods=["GET"]),
        Rule("/_sim/sessions/<session_id>/complete", endpoint="complete_session", methods=["POST"]),
        Rule("/_sim/config", endpoint="config", methods=["GET", "POST"]),
        Rule("/_sim/reset", endpoint="reset", methods=["POST"]),
        Rule("/_sim/customers", endpoint="customers", methods=["GET"]),
    ]
)


# =========================================================================== the simulator


class InvoiceCloudSimulator:
    """A WSGI app playing Invoice Cloud for one biller; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str,
        biller_guid: str,
        web_service_key: str,
        biller_name: str = "Avocette Utilities",
        customer_records: Iterable[CustomerRecord] = (),
    ) -> None:
        self.base_url = DEFAULT_BASE_URL
        self.biller_name = biller_name
        self._api_key = api_key
        self._biller_guid = biller_guid
        self._web_service_key = web_service_key
        self._initial_customers = tuple(dataclasses.replace(record) for record in customer_records)
        self._lock = threading.RLock()
        self._config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self._sessions: dict[str, Session] = {}
        self._customers: dict[str, _CustomerEntry] = {}
        self._handlers: dict[str, Callable[..., Response]] = {
            "index": self._handle_index,
            "css": self._handle_css,
            "cpv2": self._handle_cpv2,
            "hosted_start": self._handle_hosted,
            "hosted_step": self._handle_hosted,
            "view_customer": self._handle_view_customer,
            "update_customer": self._handle_update_customer,
            "list_sessions": self._handle_list_sessions,
            "show_session": self._handle_show_session,
            "complete_session": self._handle_complete_session,
            "config": self._handle_config,
            "reset": self._handle_reset,
            "customers": self._handle_customers,
        }
        self._steps: dict[str, Callable[[Request, pages.Frame, Session], Response]] = {
            "account": self._step_account,
            "invoices": self._step_invoices,
            "billing": self._step_billing,
            "payment": self._step_payment,
            "receipt": self._step_receipt,
        }
        self.reset()

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def biller_guid(self) -> str:
        return self._biller_guid

    @property
    def web_service_key(self) -> str:
        return self._web_service_key

    def put_customer_record(self, record: CustomerRecord) -> None:
        """Add or replace a customer record, until the next reset (for tests)."""
        with self._lock:
            self._customers[record.account_number] = _CustomerEntry(dataclasses.replace(record))

    def customer_records(self) -> dict[str, dict[str, Any]]:
        """What ``GET /_sim/customers`` shows, by account number."""
        with self._lock:
            return {number: entry.to_json() for number, entry in self._customers.items()}

    def update_config(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """What ``POST /_sim/config`` does, for code running in the same process."""
        checked = validate_config_update(dict(update))
        with self._lock:
            self._config.update(checked)
            return dict(self._config)

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = _Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = _URL_MAP.bind_to_environ(request.environ)
        try:
            endpoint, arguments = adapter.match()
            return self._handlers[endpoint](request, **arguments)
        except HTTPException as error:
            return error.get_response(request.environ)
        except Exception:
            # The path is not logged: under /cloudpayments/ it holds the session id.
            logger.exception("Simulator failed on %s %s", request.method, request.path.split("/")[1])
            return _json_response({"error": "simulator_error", "message": "The simulator failed"}, 500)

    def reset(self) -> None:
        """Defaults back, sessions gone (their pending deliveries stop), customer records as constructed."""
        with self._lock:
            for session in self._sessions.values():
                session.discarded.set()
            self._config = dict(DEFAULT_CONFIG)
            self._sessions = {}
            self._customers = {
                record.account_number: _CustomerEntry(dataclasses.replace(record)) for record in self._initial_customers
            }

    # ------------------------------------------------------------------ faults

    def _injected_fault(self, prefix: str) -> str | None:
        """Sleep the configured delay, then take one use of the configured fault, if any."""
        with self._lock:
            delay = float(self._config[f"{prefix}DelaySeconds"])
        if delay:
            time.sleep(delay)
        with self._lock:
            fault: str | None = self._config[f"{prefix}Fault"]
            count: int | None = self._config[f"{prefix}FaultCount"]
            if fault is None:
                return None
            if count is not None:
                remaining = count - 1
                self._config[f"{prefix}FaultCount"] = remaining or None
                if remaining <= 0:
                    self._config[f"{prefix}Fault"] = None
            return fault

    def _fault_timeout(self, prefix: str) -> None:
        with self._lock:
            seconds = float(self._config[f"{prefix}TimeoutSeconds"])
        time.sleep(seconds)

    def _cpv2_fault_response(self, fault: str) -> Response:
        if fault == "timeout":
            self._fault_timeout("api")
            return _gateway_error(504)
        if fault == "malformed":
            return Response('{"Message": "SUCCESS", "Data": {"CloudPaymentURL": ', mimetype=JSON_MIMETYPE)
        if fault == "reject":
            return _cpv2_response("Biller is not configured for Cloud Payments")
        if fault == "500":
            return _cpv2_response("An error has occurred.", status=500)
        return _gateway_error(int(fault))

    def _customer_fault_response(self, fault: str) -> Response:
        if fault == "timeout":
            self._fault_timeout("customerApi")
            return _gateway_error(504)
        if fault == "malformed":
            return _xml_response(
                f'<?xml version="1.0" encoding="utf-8"?>\n<CustomerRecord xmlns="{WEB_SERVICES_NAMESPACE}"><Regis'
            )
        if fault == "reject":
            return _soap_fault("Invalid BillerGUID or WebServiceKey")
        if fault == "500":
            return _soap_fault("Server was unable to process request. ---> Simulated failure.")
        return _gateway_error(int(fault))

    # ------------------------------------------------------------------ CPV2 API

    def _handle_cpv2(self, request: Request) -> Response:
        fault = self._injected_fault("api")
        if fault is not None:
            return self._cpv2_fault_response(fault)
        if not self._is_api_key(request):
            response = _cpv2_response("Authorization has been denied for this request.", status=401)
            response.headers["WWW-Authenticate"] = 'Basic realm="Invoice Cloud"'
            return response
        if request.mimetype != JSON_MIMETYPE:
            message = f"The request entity's media type '{request.mimetype}' is not supported for this resource."
            return _cpv2_response(message, status=415)
        try:
            body = parse_cpv2_json(request.get_data())
            validate_cpv2_request(body)
        except RequestValidationError as error:
            return _cpv2_response(str(error), status=400)
        session = self._open_session(body)
        url = f"{self.base_url.rstrip('/')}/cloudpayments/{session.session_id}"
        return _cpv2_response("SUCCESS", {"CloudPaymentURL": url})

    def _is_api_key(self, request: Request) -> bool:
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return False
        user_ok = hmac.compare_digest((auth.username or "").encode(), self._api_key.encode())
        return user_ok and not auth.password

    def _open_session(self, body: dict[str, Any]) -> Session:
        now = _utc_now()
        with self._lock:
            minutes = float(self._config["sessionMinutes"])
            session = Session(
                session_id=uuid.uuid4().hex,
                request=body,
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
                lines=_invoice_lines(body),
                billing=_billing_from_request(body),
            )
            self._sessions[session.session_id] = session
        # Named by BillerReference, never by session id: the id opens the payer's payment page.
        logger.info("CPV2 session for %s opened with %d invoices", session.biller_reference or "-", len(session.lines))
        return session

    # ------------------------------------------------------------------ hosted pages

    def _handle_hosted(self, request: Request, session_id: str, step: str = "account") -> Response:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or step not in self._steps:
                return _html_response(pages.not_found_page(self.biller_name), 404)
            frame = pages.Frame(self.biller_name, session_id, str(session.request.get("CssUrl", "")))
            state = session.state(_utc_now())
            if state == "APPROVED":
                if step == "receipt" and request.method == "GET":
                    return self._receipt(frame, session)
                return _see_other(frame.step_url("receipt"))
            if state == "EXPIRED":
                return _html_response(pages.expired_page(frame), 410, frame.css_url)
            return self._steps[step](request, frame, session)

    def _step_account(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        if request.method == "POST":
            return _see_other(frame.step_url("invoices"))
        selected = session.selected_lines()
        accounts = []
        for index, customer in enumerate(session.customers()):
            lines = [line for line in selected if line.customer_index == index]
            display = customer.get("DisplayAccountNumber") or customer["AccountNumber"]
            accounts.append(pages.AccountSummary(display, customer.get("Name", ""), len(lines), dollars(_total(lines))))
        page = pages.account_page(frame, accounts, dollars(_total(selected)))
        return _html_response(page, css_url=frame.css_url)

    def _step_invoices(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        message, status = "", 200
        if request.method == "POST":
            if "remove" not in request.form:
                return _see_other(frame.step_url("billing"))
            refusal = self._remove_lines(session, [request.form["remove"]])
            if refusal is None:
                return _see_other(frame.step_url("invoices"))
            message, status = refusal, 400
        selected = session.selected_lines()
        rows = [
            pages.InvoiceRow(
                line.key,
                line.display_account_number,
                line.invoice_number,
                line.invoice_date,
                line.due_date,
                dollars(line.balance_due),
            )
            for line in selected
        ]
        page = pages.invoices_page(
            frame, rows, dollars(_total(selected)), allow_remove=session.allow_remove, message=message
        )
        return _html_response(page, status, frame.css_url)

    def _step_billing(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        if request.method == "GET":
            return _html_response(pages.billing_page(frame, session.billing), css_url=frame.css_url)
        form = pages.BillingForm(**{name: request.form.get(name, "").strip() for name in _BILLING_FIELDS})
        errors = _billing_errors(form)
        if errors:
            return _html_response(pages.billing_page(frame, form, errors), 400, frame.css_url)
        session.billing = form
        return _see_other(frame.step_url("payment"))

    def _step_payment(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        if request.method == "GET":
            notice, session.notice = session.notice, ""
            return self._payment_page(frame, session, notice=notice)
        kind = _method_kind(request.form.get("method", ""))
        if kind is None or not session.allows(kind):
            return self._payment_page(
                frame, session, notice="Choose a payment method offered on this page.", status=400
            )
        method, approved, form = self._read_payment_form(kind, request.form)
        if method is None:
            return self._payment_page(frame, session, form=form, status=400)
        attempt = self._record_attempt(session, method, approved=approved)
        if attempt.approved:
            return _see_other(frame.step_url("receipt"))
        session.notice = ("Card declined. " if kind == "CARD" else "Bank account declined. ") + pages.DECLINE_TEXT
        return _see_other(frame.step_url("payment"))

    def _step_receipt(self, request: Request, frame: pages.Frame, session: Session) -> Response:
        # Only reached while the session is open, i.e. before an approval: nothing to show yet.
        return _see_other(frame.step_url("payment"))

    @staticmethod
    def _read_payment_form(
        kind: MethodKind, form: Mapping[str, str]
    ) -> tuple[PaymentMethod | None, bool, pages.PaymentForm]:
        """Turn the posted fields into a payment method and the test outcome; keep no full numbers."""
        if kind == "CARD":
            card, errors = validate_card_form(form, _utc_now().date())
            retry = pages.PaymentForm(
                "CARD", errors, name_on_card=form.get("name_on_card", ""), expiry=form.get("expiry", "")
            )
            if card is None:
                return None, False, retry
            method = PaymentMethod("CARD", card_brand(card.number), card.last4)
            return method, card.number == APPROVING_CARD, retry
        ach, errors = validate_ach_form(form)
        retry = pages.PaymentForm(
            "ACH", errors, routing_number=form.get("routing_number", ""), account_type=form.get("account_type", "")
        )
        if ach is None:
            return None, False, retry
        approved = ach.routing_number == APPROVING_ROUTING_NUMBER and not ach.account_number.endswith(
            DECLINING_ACCOUNT_SUFFIX
        )
        return PaymentMethod("ACH", "", ach.last4), approved, retry

    def _payment_page(
        self,
        frame: pages.Frame,
        session: Session,
        *,
        notice: str = "",
        form: pages.PaymentForm | None = None,
        status: int = 200,
    ) -> Response:
        selected = session.selected_lines()
        amount = _total(selected)
        offers = []
        for kind in ("CARD", "ACH"):
            if session.allows(kind):
                fee = sum((line.fee_for(kind) for line in selected), Decimal(0))
                offers.append(pages.MethodOffer(kind, dollars(amount), dollars(fee), dollars(amount + fee)))
        page = pages.payment_page(frame, offers, notice=notice, form=form)
        return _html_response(page, status, frame.css_url)

    def _receipt(self, frame: pages.Frame, session: Session) -> Response:
        attempt = session.approved_attempt()
        if attempt is None:  # callers check the state first; stay safe if one forgets
            return _see_other(frame.step_url("payment"))
        receipt = pages.ReceiptView(
            receipt_number=attempt.payment_guid,
            paid_at=attempt.at.astimezone(PAYMENT_TIME_ZONE).strftime("%m/%d/%Y %I:%M %p %Z"),
            method=attempt.method.description,
            lines=[
                pages.ReceiptLine(line.display_account_number, line.invoice_number, dollars(line.balance_due))
                for line in attempt.lines
            ],
            amount=dollars(attempt.amount),
            fee=dollars(attempt.fee),
            total=dollars(attempt.amount + attempt.fee),
            payer_name=session.billing.name,
            return_url=session.return_url,
        )
        return _html_response(pages.receipt_page(frame, receipt), css_url=frame.css_url)

    # ------------------------------------------------------------------ attempts and deliveries

    def _remove_lines(self, session: Session, keys: Sequence[str]) -> str | None:
        """Remove invoices as the payer would; answer why not, or ``None`` when done."""
        if not session.allow_remove:
            return "Removing invoices is not allowed for this payment."
        known = {line.key for line in session.lines}
        if any(key not in known for key in keys):
            return "That invoice is not part of this payment."
        remaining = [line for line in session.selected_lines() if line.key not in keys]
        if not remaining:
            return "You cannot remove the last invoice: at least one invoice must be paid."
        session.removed.extend(key for key in keys if key not in session.removed)
        return None

    def _record_attempt(self, session: Session, method: PaymentMethod, *, approved: bool) -> Attempt:
        """Record one payment attempt and start delivering its postbacks (call with the lock held)."""
        config = dict(self._config)
        lines = session.selected_lines()
        guid = session.first_guid if session.first_guid and not config["guidPerAttempt"] else str(uuid.uuid4())
        session.first_guid = session.first_guid or guid
        attempt = Attempt(
            payment_guid=guid,
            approved=approved,
            method=method,
            lines=lines,
            amount=_total(lines),
            fee=sum((line.fee_for(method.kind) for line in lines), Decimal(0)),
            at=_utc_now(),
        )
        session.attempts.append(attempt)
        logger.info(
            "Session for %s: payment attempt %s",
            session.biller_reference or "-",
            "approved" if approved else "declined",
        )
        if session.postback_url:
            postbacks = build_postbacks(biller_guid=self._biller_guid, session=session, attempt=attempt, config=config)
            attempt.postbacks = _plan_deliveries(postbacks, config)
            session.postbacks.extend(attempt.postbacks)
        if not attempt.postbacks or config["dropPostbacks"]:
            attempt.done.set()
            return attempt
        thread = threading.Thread(
            target=self._deliver,
            args=(session, attempt, session.postback_url, config),
            name=f"ic-postbacks-{session.session_id[:8]}",
            daemon=True,
        )
        thread.start()
        return attempt

    def _deliver(self, session: Session, attempt: Attempt, url: str, config: Mapping[str, Any]) -> None:
        """Background delivery of one attempt's postbacks, one after another, like a real sender."""
        try:
            if session.discarded.wait(float(config["postbackDelaySeconds"])):
                return
            with requests.Session() as http:
                http.trust_env = False  # 127.0.0.1 must never go through a proxy from the environment
                for record in attempt.postbacks:
                    self._deliver_one(http, session, record, url, config)
        finally:
            attempt.done.set()

    def _deliver_one(
        self, http: requests.Session, session: Session, record: DeliveryRecord, url: str, config: Mapping[str, Any]
    ) -> None:
        tries = 1 + int(config["postbackRetries"])
        for number in range(tries):
            if session.discarded.is_set():
                return
            status, error = _post_form(http, url, record.fields)
            with self._lock:
                record.attempts.append({"status": status, "error": error, "at": _rfc3339(_utc_now())})
                record.delivered = status is not None and 200 <= status < 300
            if record.delivered:
                return
            if number + 1 < tries and session.discarded.wait(float(config["postbackRetryDelaySeconds"])):
                return
        logger.warning("Postback for %s given up after %d tries", session.biller_reference or "-", tries)

    # ------------------------------------------------------------------ CloudManagement

    def _handle_view_customer(self, request: Request) -> Response:
        form, refusal = self._cloud_management_form(request)
        if refusal is not None:
            return refusal
        account = form.get("AccountNumber", "").strip()
        if not account:
            return _soap_fault("Missing parameter: AccountNumber.")
        with self._lock:
            entry = self._customers.get(account)
            record = dataclasses.replace(entry.record) if entry else None
        if record is None:
            return _soap_fault(f"Customer record not found for account {account}")
        return _xml_response(_customer_record_xml(record))

    def _handle_update_customer(self, request: Request) -> Response:
        form, refusal = self._cloud_management_form(request)
        if refusal is not None:
            return refusal
        account = form.get("AccountNumber", "").strip()
        if not account:
            return _soap_fault("Missing parameter: AccountNumber.")
        sent = {
            name: ("***" if name in MASKED_FIELDS else value)
            for name, value in form.items()
            if name not in CREDENTIAL_FIELDS
        }
        with self._lock:
            entry = self._customers.setdefault(account, _CustomerEntry(CustomerRecord(account, registered=False)))
            for name, attribute in _UPDATABLE_FIELDS.items():
                value = form.get(name, "").strip()
                if value:
                    setattr(entry.record, attribute, value)
            entry.updates.append(sent)
        body = f'<?xml version="1.0" encoding="utf-8"?>\n<boolean xmlns="{WEB_SERVICES_NAMESPACE}">true</boolean>'
        return _xml_response(body)

    def _cloud_management_form(self, request: Request) -> tuple[Mapping[str, str], Response | None]:
        """Faults first (they stand for the service being down), then the body format, then the keys."""
        fault = self._injected_fault("customerApi")
        if fault is not None:
            return {}, self._customer_fault_response(fault)
        if request.mimetype != FORM_MIMETYPE:
            return {}, _soap_fault(f"Request format is invalid: {request.mimetype or 'no content type'}.")
        form = request.form.to_dict()
        guid_ok = hmac.compare_digest(form.get("BillerGUID", "").encode(), self._biller_guid.encode())
        key_ok = hmac.compare_digest(form.get("WebServiceKey", "").encode(), self._web_service_key.encode())
        if not (guid_ok and key_ok):
            return {}, _soap_fault("Invalid BillerGUID or WebServiceKey")
        return form, None

    # ------------------------------------------------------------------ control API

    def _handle_index(self, request: Request) -> Response:
        with self._lock:
            now = _utc_now()
            rows = [
                pages.IndexRow(s.session_id, s.state(now), _rfc3339(s.created_at), s.biller_reference)
                for s in reversed(self._sessions.values())
            ][:50]
        return _html_response(pages.index_page(self.biller_name, rows))

    def _handle_css(self, request: Request) -> Response:
        response = Response((STATIC_DIR / "ic.css").read_bytes(), mimetype="text/css")
        response.headers["Cache-Control"] = "no-cache"
        return response

    def _handle_list_sessions(self, request: Request) -> Response:
        with self._lock:
            now = _utc_now()
            sessions = [
                {
                    "sessionId": s.session_id,
                    "state": s.state(now),
                    "createdAt": _rfc3339(s.created_at),
                    "billerReference": s.biller_reference,
                }
                for s in reversed(self._sessions.values())
            ]
        return _json_response({"sessions": sessions})

    def _handle_show_session(self, request: Request, session_id: str) -> Response:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return _control_error(ControlError(404, "session_not_found", f"No session {session_id}"))
            return _json_response(self._session_json(session))

    def _session_json(self, session: Session) -> dict[str, Any]:
        removed = [line.invoice_number for line in session.lines if line.key in session.removed]
        return {
            "sessionId": session.session_id,
            "request": _jsonable(session.request),
            "state": session.state(_utc_now()),
            "createdAt": _rfc3339(session.created_at),
            "expiresAt": _rfc3339(session.expires_at),
            "removedInvoices": removed,
            "attempts": [attempt.to_json() for attempt in session.attempts],
            "postbacks": [record.to_json() for record in session.postbacks],
        }

    def _handle_complete_session(self, request: Request, session_id: str) -> Response:
        """Do what the hosted pages do, then wait for this attempt's deliveries to finish."""
        try:
            outcome, kind, remove = _parse_complete_body(request)
            with self._lock:
                session = self._sessions.get(session_id)
                if session is None:
                    raise ControlError(404, "session_not_found", f"No session {session_id}")
                attempt = self._complete(session, outcome, kind, remove)
                deadline = _delivery_deadline(attempt, self._config)
        except ControlError as error:
            return _control_error(error)
        attempt.done.wait(deadline)
        with self._lock:
            body = {
                "state": session.state(_utc_now()),
                "attempt": attempt.to_json(),
                "postbacks": [record.to_json() for record in attempt.postbacks],
            }
        return _json_response(body)

    def _complete(self, session: Session, outcome: str, kind: MethodKind, remove: Sequence[str]) -> Attempt:
        state = session.state(_utc_now())
        if state != "OPEN":
            raise ControlError(409, "session_not_open", f"The session is {state}")
        if not session.allows(kind):
            raise ControlError(400, "method_not_allowed", f"The request does not allow {kind} payments")
        if remove:
            keys = [line.key for line in session.lines if line.invoice_number in remove]
            unknown = sorted(set(remove) - {line.invoice_number for line in session.lines})
            if unknown:
                raise ControlError(400, "unknown_invoice", f"Not in this session: {', '.join(unknown)}")
            refusal = self._remove_lines(session, keys)
            if refusal is not None:
                raise ControlError(400, "remove_refused", refusal)
        approved = outcome == "approve"
        if kind == "CARD":
            method = PaymentMethod("CARD", "Visa", APPROVING_CARD[-4:] if approved else "0002")
        else:
            method = PaymentMethod("ACH", "", "6789" if approved else DECLINING_ACCOUNT_SUFFIX)
        return self._record_attempt(session, method, approved=approved)

    def _handle_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                return _json_response(self.update_config(_read_json(request)))
            except ControlError as error:
                return _control_error(error)
        with self._lock:
            return _json_response(dict(self._config))

    def _handle_reset(self, request: Request) -> Response:
        self.reset()
        return _json_response({"reset": True})

    def _handle_customers(self, request: Request) -> Response:
        with self._lock:
            customers = [entry.to_json() for entry in self._customers.values()]
        return _json_response({"customers": customers})


# =========================================================================== small helpers

_BILLING_FIELDS: Final = ("name", "address", "city", "state", "zip", "email")
_BILLING_LABELS: Final = {
    "name": "Enter the name of the person paying.",
    "address": "Enter the street address.",
    "city": "Enter the city.",
    "state": "Enter the state.",
    "zip": "Enter the ZIP code.",
}


def _billing_errors(form: pages.BillingForm) -> dict[str, str]:
    errors = {name: message for name, message in _BILLING_LABELS.items() if not getattr(form, name)}
    if form.email and ("@" not in form.email or " " in form.email):
        errors["email"] = "Enter an email address like name@example.com, or leave it empty."
    return errors


def _method_kind(value: str) -> MethodKind | None:
    if value == "CARD":
        return "CARD"
    if value == "ACH":
        return "ACH"
    return None


def _total(lines: Iterable[InvoiceLine]) -> Decimal:
    return sum((line.balance_due for line in lines), Decimal(0))


def _post_form(http: requests.Session, url: str, fields: Mapping[str, str]) -> tuple[int | None, str | None]:
    """POST one postback; the error text names the failure but never the URL (it carries the token)."""
    try:
        response = http.post(url, data=dict(fields), timeout=POSTBACK_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.Timeout:
        return None, f"Timeout: no answer within {POSTBACK_TIMEOUT_SECONDS:.0f} s"
    except requests.ConnectionError:
        return None, "ConnectionError: could not connect"
    except requests.RequestException as error:
        return None, type(error).__name__
    return response.status_code, None


def _read_json(request: Request) -> Any:
    try:
        return json.loads(request.get_data() or b"{}")
    except ValueError as error:
        raise ControlError(400, "invalid_json", "The body is not valid JSON") from error


def _parse_complete_body(request: Request) -> tuple[str, MethodKind, list[str]]:
    body = _read_json(request)
    if not isinstance(body, dict):
        raise ControlError(400, "invalid_request", "The body must be a JSON object")
    unknown = sorted(set(body) - {"outcome", "method", "removeInvoices"})
    if unknown:
        raise ControlError(400, "invalid_request", f"Unknown fields: {', '.join(unknown)}")
    outcome = body.get("outcome")
    if outcome not in ("approve", "decline"):
        raise ControlError(400, "invalid_request", "outcome must be approve or decline")
    kind = _method_kind(body.get("method", "CARD"))
    if kind is None:
        raise ControlError(400, "invalid_request", "method must be CARD or ACH")
    remove = body.get("removeInvoices", [])
    if not isinstance(remove, list) or not all(isinstance(number, str) for number in remove):
        raise ControlError(400, "invalid_request", "removeInvoices must be a list of invoice numbers")
    return outcome, kind, remove
