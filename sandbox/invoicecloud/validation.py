"""Strict checks of what callers send the simulator: CPV2 requests and the payer's payment forms.

The real Invoice Cloud is forgiving in ways nobody has documented; the simulator is deliberately
stricter, so that a client bug (a string where a boolean belongs, a misspelt field, a float with
three decimals) fails loudly in a test instead of quietly in production. Every error names the
field path, e.g. ``Customers[0].Invoices[1].DueDate``, so the failing test explains itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "AchDetails",
    "CardDetails",
    "RequestValidationError",
    "parse_cpv2_json",
    "validate_ach_form",
    "validate_card_form",
    "validate_cpv2_request",
]

TOP_LEVEL_FIELDS = frozenset(
    {
        "CreateCustomerRecord",
        "Customers",
        "AllowSwipe",
        "AllowEMV",
        "EMVDeviceID",
        "EMVLocationID",
        "CashierName",
        "AllowCCPayment",
        "AllowACHPayment",
        "RemoteAuthenticationToken",
        "ReturnURL",
        "PostBackURL",
        "BillerReference",
        "ViewMode",
        "CssUrl",
        "PageLoadOverride",
        "PageResultOptions",
    }
)
TOP_LEVEL_BOOLEANS = ("CreateCustomerRecord", "AllowSwipe", "AllowEMV", "AllowCCPayment", "AllowACHPayment")
TOP_LEVEL_STRINGS = ("EMVDeviceID", "EMVLocationID", "CashierName", "RemoteAuthenticationToken")
TOP_LEVEL_URLS = ("ReturnURL", "PostBackURL", "CssUrl")

CUSTOMER_FIELDS = frozenset(
    {"AccountNumber", "DisplayAccountNumber", "Name", "Address", "City", "State", "Zip", "EmailAddress", "Invoices"}
)
CUSTOMER_STRINGS = ("DisplayAccountNumber", "Name", "Address", "City", "State", "Zip", "EmailAddress")

INVOICE_FIELDS = frozenset(
    {
        "InvoiceNumber",
        "TypeID",
        "InvoiceDate",
        "DueDate",
        "BalanceDue",
        "CCServiceFee",
        "ACHServiceFee",
        "MinimumAmountDue",
        "AllowPartialPayments",
    }
)
INVOICE_AMOUNTS = ("BalanceDue", "CCServiceFee", "ACHServiceFee", "MinimumAmountDue")
INVOICE_DATES = ("InvoiceDate", "DueDate")

PAGE_RESULT_OPTIONS_FIELDS = frozenset({"AllowRegisterAccount", "InvoiceOptions"})
INVOICE_OPTIONS_FIELDS = frozenset({"AllowViewStatement", "AllowRemove", "AllowViewRelated", "AllowRemindMe"})

BILLER_REFERENCE_MAX_LENGTH = 100
_CENT = Decimal("0.01")
_DATE_PATTERN = re.compile(r"\d{2}/\d{2}/\d{4}")


class RequestValidationError(ValueError):
    """The first problem found in a request, worded for the developer who sent it."""


# --------------------------------------------------------------------------- JSON parsing


def parse_cpv2_json(body: bytes) -> Any:
    """Parse a CPV2 body keeping decimals exact, refusing NaN/Infinity and duplicate keys.

    ``parse_float=Decimal`` is what lets the amount rules tell ``10.005`` from ``10.01``; a float
    would already have rounded it away.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestValidationError("The request body is not UTF-8") from error
    try:
        return json.loads(
            text, parse_float=Decimal, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicate_keys
        )
    except RequestValidationError:
        raise
    except ValueError as error:
        raise RequestValidationError(f"The request body is not valid JSON: {error}") from error


def _refuse_constant(name: str) -> Any:
    raise RequestValidationError(f"{name} is not a valid JSON number")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RequestValidationError(f"Field {key} appears twice in one object")
        result[key] = value
    return result


# --------------------------------------------------------------------------- CPV2 request


def validate_cpv2_request(body: Any, *, statement_link_field: str | None = None) -> None:
    """Raise :class:`RequestValidationError` on the first rule the CPV2 request breaks. An invoice
    may carry ``statement_link_field``, a link to its bill (an http(s) URL), when one is named."""
    _require_object(body, "The request body")
    _refuse_unknown_fields(body, TOP_LEVEL_FIELDS, "")
    _validate_customers(body, statement_link_field)
    for name in TOP_LEVEL_BOOLEANS:
        _optional(body, name, name, _check_boolean)
    for name in TOP_LEVEL_STRINGS:
        _optional(body, name, name, _check_string)
    for name in TOP_LEVEL_URLS:
        _optional(body, name, name, _check_url)
    _optional(body, "BillerReference", "BillerReference", _check_biller_reference)
    _validate_view_mode(body)
    _optional(body, "PageLoadOverride", "PageLoadOverride", _check_integer)
    _optional(body, "PageResultOptions", "PageResultOptions", _check_page_result_options)
    if body.get("AllowCCPayment") is False and body.get("AllowACHPayment") is False:
        raise RequestValidationError("AllowCCPayment and AllowACHPayment are both false: no way to pay is left")


def _validate_customers(body: Mapping[str, Any], statement_link_field: str | None) -> None:
    if "Customers" not in body:
        raise RequestValidationError("Customers is required")
    customers = body["Customers"]
    if not isinstance(customers, list) or not customers:
        raise RequestValidationError(f"Customers must be a non-empty list, not {_describe(customers)}")
    seen_accounts: set[str] = set()
    for index, customer in enumerate(customers):
        path = f"Customers[{index}]"
        _validate_customer(customer, path, statement_link_field)
        account = customer["AccountNumber"]
        if account in seen_accounts:
            raise RequestValidationError(f"{path}.AccountNumber {account} appears in more than one customer")
        seen_accounts.add(account)
    if not any(customer.get("Invoices") for customer in customers):
        raise RequestValidationError("Customers carry no invoices: the simulator plays invoice payments only")


def _validate_customer(customer: Any, path: str, statement_link_field: str | None) -> None:
    _require_object(customer, path)
    _refuse_unknown_fields(customer, CUSTOMER_FIELDS, f"{path}.")
    if "AccountNumber" not in customer:
        raise RequestValidationError(f"{path}.AccountNumber is required")
    _check_non_empty_string(customer["AccountNumber"], f"{path}.AccountNumber")
    for name in CUSTOMER_STRINGS:
        _optional(customer, name, f"{path}.{name}", _check_string)
    if "Invoices" not in customer:
        return
    invoices = customer["Invoices"]
    if not isinstance(invoices, list):
        raise RequestValidationError(f"{path}.Invoices must be a list, not {_describe(invoices)}")
    seen_invoices: set[str] = set()
    for index, invoice in enumerate(invoices):
        invoice_path = f"{path}.Invoices[{index}]"
        _validate_invoice(invoice, invoice_path, statement_link_field)
        number = invoice["InvoiceNumber"]
        if number in seen_invoices:
            raise RequestValidationError(f"{invoice_path}.InvoiceNumber {number} appears twice for one account")
        seen_invoices.add(number)


def _validate_invoice(invoice: Any, path: str, statement_link_field: str | None) -> None:
    _require_object(invoice, path)
    allowed = INVOICE_FIELDS | {statement_link_field} if statement_link_field else INVOICE_FIELDS
    _refuse_unknown_fields(invoice, allowed, f"{path}.")
    if statement_link_field:
        _optional(invoice, statement_link_field, f"{path}.{statement_link_field}", _check_url)
    if "InvoiceNumber" not in invoice:
        raise RequestValidationError(f"{path}.InvoiceNumber is required")
    _check_non_empty_string(invoice["InvoiceNumber"], f"{path}.InvoiceNumber")
    _optional(invoice, "TypeID", f"{path}.TypeID", _check_integer)
    for name in INVOICE_DATES:
        _optional(invoice, name, f"{path}.{name}", _check_date)
    for name in INVOICE_AMOUNTS:
        _optional(invoice, name, f"{path}.{name}", _check_amount)
    _optional(invoice, "AllowPartialPayments", f"{path}.AllowPartialPayments", _check_boolean)


def _validate_view_mode(body: Mapping[str, Any]) -> None:
    if "ViewMode" not in body:
        raise RequestValidationError("ViewMode is required (0 = redirect, 1 = iframe)")
    _check_integer(body["ViewMode"], "ViewMode")
    if body["ViewMode"] not in (0, 1):
        raise RequestValidationError(f"ViewMode must be 0 or 1, not {body['ViewMode']}")


def _check_page_result_options(value: Any, path: str) -> None:
    _require_object(value, path)
    _refuse_unknown_fields(value, PAGE_RESULT_OPTIONS_FIELDS, f"{path}.")
    _optional(value, "AllowRegisterAccount", f"{path}.AllowRegisterAccount", _check_boolean)
    if "InvoiceOptions" not in value:
        return
    options = value["InvoiceOptions"]
    options_path = f"{path}.InvoiceOptions"
    _require_object(options, options_path)
    _refuse_unknown_fields(options, INVOICE_OPTIONS_FIELDS, f"{options_path}.")
    for name in sorted(INVOICE_OPTIONS_FIELDS):
        _optional(options, name, f"{options_path}.{name}", _check_boolean)


# --------------------------------------------------------------------------- field rules

FieldCheck = Callable[[Any, str], None]


def _optional(container: Mapping[str, Any], name: str, path: str, check: FieldCheck) -> None:
    """Apply ``check`` when the field is present; absent optional fields are fine, nulls are not."""
    if name in container:
        check(container[name], path)


def _require_object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise RequestValidationError(f"{path} must be a JSON object, not {_describe(value)}")


def _refuse_unknown_fields(value: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
    for name in value:
        if name in allowed:
            continue
        hint = next((known for known in sorted(allowed) if known.lower() == name.lower()), None)
        suffix = f" (did you mean {hint}?)" if hint else ""
        raise RequestValidationError(f"{prefix}{name} is not a known field{suffix}")


def _check_boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise RequestValidationError(f"{path} must be a JSON boolean (true or false), not {_describe(value)}")


def _check_string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise RequestValidationError(f"{path} must be a string, not {_describe(value)}")


def _check_non_empty_string(value: Any, path: str) -> None:
    _check_string(value, path)
    if not value.strip():
        raise RequestValidationError(f"{path} must not be empty")


def _check_integer(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestValidationError(f"{path} must be a JSON integer, not {_describe(value)}")


def _check_date(value: Any, path: str) -> None:
    _check_string(value, path)
    if not _DATE_PATTERN.fullmatch(value):
        raise RequestValidationError(f"{path} must be MM/DD/YYYY, not {value!r}")
    if parse_us_date(value) is None:
        raise RequestValidationError(f"{path} must be MM/DD/YYYY and a real calendar date, not {value!r}")


def _check_amount(value: Any, path: str) -> None:
    """Money must be a JSON number with at most two decimals: ``10``, ``10.5`` and ``10.50`` pass."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RequestValidationError(f"{path} must be a JSON number, not {_describe(value)}")
    amount = Decimal(value)
    if amount < 0:
        raise RequestValidationError(f"{path} must not be negative, not {value}")
    try:
        has_more_decimals = amount.quantize(_CENT) != amount
    except InvalidOperation as error:
        raise RequestValidationError(f"{path} is too large: {value}") from error
    if has_more_decimals:
        raise RequestValidationError(f"{path} must have at most two decimals, not {value}")


def _check_url(value: Any, path: str) -> None:
    _check_string(value, path)
    if value == "":
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(char.isspace() for char in value):
        raise RequestValidationError(f"{path} must be an absolute http(s) URL without spaces")


def _check_biller_reference(value: Any, path: str) -> None:
    _check_string(value, path)
    if len(value) > BILLER_REFERENCE_MAX_LENGTH:
        limit = BILLER_REFERENCE_MAX_LENGTH
        raise RequestValidationError(f"{path} must be at most {limit} characters, not {len(value)}")


def _describe(value: Any) -> str:
    """Name a value's JSON type, quoting strings so ``"False"`` is visibly not ``false``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | Decimal | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, list):
        return "a list"
    return "an object"


def parse_us_date(value: str) -> date | None:
    """Read ``MM/DD/YYYY``; ``None`` when it is not a calendar date (``02/30/2026``)."""
    try:
        return datetime.strptime(value, "%m/%d/%Y").date()
    except ValueError:
        return None


# --------------------------------------------------------------------------- payer forms


@dataclass(frozen=True)
class CardDetails:
    """What the simulator keeps of a card: never the full number, only what a receipt shows."""

    number: str
    name_on_card: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class AchDetails:
    routing_number: str
    account_number: str
    account_type: str

    @property
    def last4(self) -> str:
        return self.account_number[-4:]


def validate_card_form(form: Mapping[str, str], today: date) -> tuple[CardDetails | None, dict[str, str]]:
    """Check the card fields; answer the details, or the errors by field name for the form to show."""
    errors: dict[str, str] = {}
    number = re.sub(r"[\s-]", "", form.get("card_number", ""))
    if not re.fullmatch(r"\d{12,19}", number):
        errors["card_number"] = "Enter the 12 to 19 digits of the card number."
    if not _expiry_is_valid(form.get("expiry", "").strip(), today):
        errors["expiry"] = "Enter the expiry date as MM/YY, not in the past."
    if not re.fullmatch(r"\d{3,4}", form.get("cvv", "").strip()):
        errors["cvv"] = "Enter the 3 or 4 digit security code."
    name = form.get("name_on_card", "").strip()
    if not name:
        errors["name_on_card"] = "Enter the name printed on the card."
    if errors:
        return None, errors
    return CardDetails(number=number, name_on_card=name), {}


def _expiry_is_valid(value: str, today: date) -> bool:
    match = re.fullmatch(r"(\d{2})\s*/\s*(\d{2})", value)
    if not match:
        return False
    month, year = int(match.group(1)), 2000 + int(match.group(2))
    if not 1 <= month <= 12:
        return False
    return (year, month) >= (today.year, today.month)


def validate_ach_form(form: Mapping[str, str]) -> tuple[AchDetails | None, dict[str, str]]:
    """Check the bank account fields the same way as the card ones."""
    errors: dict[str, str] = {}
    routing = form.get("routing_number", "").strip()
    if not re.fullmatch(r"\d{9}", routing):
        errors["routing_number"] = "Enter the 9 digit routing number."
    account = form.get("account_number", "").strip()
    if not re.fullmatch(r"\d{4,17}", account):
        errors["account_number"] = "Enter the bank account number (4 to 17 digits)."
    account_type = form.get("account_type", "")
    if account_type not in ("checking", "savings"):
        errors["account_type"] = "Choose checking or savings."
    if errors:
        return None, errors
    return AchDetails(routing_number=routing, account_number=account, account_type=account_type), {}
