"""Cloud Payments V2: the request every parameter of the seed's tables, and its answer.

Serialized as Invoice Cloud expects (DESIGN §4): the tables' field names, real JSON booleans,
``MM/DD/YYYY`` dates, amounts as JSON numbers with two decimals, empty values left out. Amounts are
held as integer cents and become numbers only in :func:`encode_request`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from avocette import clock, money
from avocette.domain.billing import Account, Invoice, InvoiceRef
from avocette.errors import ConfigurationError
from avocette.settings.payments import Cpv2Options

__all__ = [
    "Cpv2Customer",
    "Cpv2Invoice",
    "Cpv2InvoiceOptions",
    "Cpv2PageResultOptions",
    "Cpv2Request",
    "Cpv2Response",
    "build_payment_request",
    "encode_request",
]


class _IcModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class Cpv2Invoice(_IcModel):
    """Optional Invoice Data Object."""

    invoice_number: str = Field(alias="InvoiceNumber", min_length=1)
    type_id: int | None = Field(None, alias="TypeID")
    invoice_date: date | None = Field(None, alias="InvoiceDate")
    due_date: date | None = Field(None, alias="DueDate")
    balance_due_cents: int | None = Field(None, alias="BalanceDue", ge=0)
    cc_service_fee_cents: int | None = Field(None, alias="CCServiceFee", ge=0)
    ach_service_fee_cents: int | None = Field(None, alias="ACHServiceFee", ge=0)
    minimum_amount_due_cents: int | None = Field(None, alias="MinimumAmountDue", ge=0)
    allow_partial_payments: bool | None = Field(None, alias="AllowPartialPayments")
    # A signed link to the bill (DESIGN §6g), sent under the request's ``statement_link_field``: the
    # field Invoice Cloud reads it from is not public (§4a), so its name is a setting.
    statement_url: str | None = Field(None, exclude=True)

    @field_serializer("invoice_date", "due_date")
    def _ic_date(self, day: date | None) -> str | None:
        return clock.to_ic_date(day) if day else None

    @field_serializer("balance_due_cents", "cc_service_fee_cents", "ach_service_fee_cents", "minimum_amount_due_cents")
    def _amount(self, cents: int | None) -> Decimal | None:
        return money.cents_to_decimal(cents) if cents is not None else None


class Cpv2Customer(_IcModel):
    """Customer Data Object: one per account, its invoices inside."""

    account_number: str = Field(alias="AccountNumber", min_length=1)
    display_account_number: str | None = Field(None, alias="DisplayAccountNumber")
    name: str | None = Field(None, alias="Name")
    address: str | None = Field(None, alias="Address")
    city: str | None = Field(None, alias="City")
    state: str | None = Field(None, alias="State")
    zip: str | None = Field(None, alias="Zip")
    email_address: str | None = Field(None, alias="EmailAddress")
    invoices: tuple[Cpv2Invoice, ...] = Field((), alias="Invoices")


class Cpv2InvoiceOptions(_IcModel):
    """Optional Invoice User Experience Options."""

    allow_view_statement: bool | None = Field(None, alias="AllowViewStatement")
    allow_remove: bool | None = Field(None, alias="AllowRemove")
    allow_view_related: bool | None = Field(None, alias="AllowViewRelated")
    allow_remind_me: bool | None = Field(None, alias="AllowRemindMe")


class Cpv2PageResultOptions(_IcModel):
    """Optional Page User Result UI Options."""

    allow_register_account: bool | None = Field(None, alias="AllowRegisterAccount")
    invoice_options: Cpv2InvoiceOptions | None = Field(None, alias="InvoiceOptions")


class Cpv2Request(_IcModel):
    """Biller Request Parameters and Cloud Payment Settings."""

    create_customer_record: bool | None = Field(None, alias="CreateCustomerRecord")
    customers: tuple[Cpv2Customer, ...] = Field(alias="Customers", min_length=1)
    allow_swipe: bool | None = Field(None, alias="AllowSwipe")
    allow_emv: bool | None = Field(None, alias="AllowEMV")
    emv_device_id: str | None = Field(None, alias="EMVDeviceID")
    emv_location_id: str | None = Field(None, alias="EMVLocationID")
    cashier_name: str | None = Field(None, alias="CashierName")
    allow_cc_payment: bool | None = Field(None, alias="AllowCCPayment")
    allow_ach_payment: bool | None = Field(None, alias="AllowACHPayment")
    remote_authentication_token: str | None = Field(None, alias="RemoteAuthenticationToken")
    return_url: str | None = Field(None, alias="ReturnURL")
    post_back_url: str | None = Field(None, alias="PostBackURL")
    biller_reference: str | None = Field(None, alias="BillerReference")
    view_mode: int = Field(alias="ViewMode", ge=0, le=1)
    css_url: str | None = Field(None, alias="CssUrl")
    page_load_override: int | None = Field(None, alias="PageLoadOverride")
    page_result_options: Cpv2PageResultOptions | None = Field(None, alias="PageResultOptions")
    # The invoice field that carries each invoice's ``statement_url`` (IC_STATEMENT_LINK_FIELD).
    statement_link_field: str | None = Field(None, exclude=True)

    def to_wire(self) -> dict[str, Any]:
        """The request as IC's JSON object (amounts as ``Decimal``), empty values left out."""
        wire = self.model_dump(by_alias=True, mode="python")
        if self.statement_link_field:
            for customer, wire_customer in zip(self.customers, wire["Customers"], strict=True):
                for invoice, wire_invoice in zip(customer.invoices, wire_customer["Invoices"], strict=True):
                    wire_invoice[self.statement_link_field] = invoice.statement_url
        pruned = _prune(wire)
        assert isinstance(pruned, dict)
        return pruned


def _prune(value: Any) -> Any:
    """Drop None, blank text, and empty lists and objects, at every depth (False and 0 stay)."""
    if isinstance(value, dict):
        kept = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if not _is_empty(item)}
    if isinstance(value, list | tuple):
        return [item for item in (_prune(item) for item in value) if not _is_empty(item)]
    return value


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, dict | list) and not value


def _write(value: Any, out: list[str]) -> None:
    # The standard library can write a Decimal only as a float or a string; IC's sample shows numbers
    # like 10.00, so amounts are written as their exact two-decimal text.
    if isinstance(value, dict):
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            if position:
                out.append(",")
            out.append(json.dumps(key))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(money.cents_to_text(money.decimal_to_cents(value)))
    else:
        out.append(json.dumps(value))


def encode_request(request: Cpv2Request) -> bytes:
    out: list[str] = []
    _write(request.to_wire(), out)
    return "".join(out).encode("utf-8")


def build_payment_request(
    options: Cpv2Options,
    items: Sequence[tuple[Account, Invoice, int]],
    *,
    post_back_url: str,
    return_url: str,
    biller_reference: str,
    statement_links: Mapping[InvoiceRef, str] | None = None,
    statement_link_field: str | None = None,
) -> Cpv2Request:
    """One ``Customers[]`` entry per account (in the order first named), its invoices inside.

    ``items`` are (account, invoice, cents to charge). A per-invoice value from the billing file
    (type, fees, minimum, partial payments) wins over the setting. ``statement_links`` are the
    signed links to the invoices' bills (DESIGN §6g), sent in the invoice field ``statement_link_field``.
    """
    links = statement_links or {}
    if links and not statement_link_field:
        raise ValueError("statement links need the field that carries them")
    if links and statement_link_field and statement_link_field.lower() in _INVOICE_FIELD_NAMES:
        raise ConfigurationError("IC_STATEMENT_LINK_FIELD names a field CPV2 invoices already have")
    grouped: dict[str, tuple[Account, list[Cpv2Invoice]]] = {}
    for account, invoice, cents in items:
        entry = grouped.setdefault(account.account_number, (account, []))
        minimum = invoice.minimum_amount_due_cents
        entry[1].append(
            Cpv2Invoice(
                invoice_number=invoice.invoice_number,
                type_id=invoice.type_id if invoice.type_id is not None else options.invoice_type_id,
                invoice_date=invoice.invoice_date,
                due_date=invoice.due_date,
                balance_due_cents=cents,
                cc_service_fee_cents=_first(invoice.cc_service_fee_cents, options.cc_service_fee_cents),
                ach_service_fee_cents=_first(invoice.ach_service_fee_cents, options.ach_service_fee_cents),
                minimum_amount_due_cents=min(minimum, cents) if minimum is not None else None,
                allow_partial_payments=invoice.allow_partial_payments,
                statement_url=links.get(invoice.ref),
            )
        )
    customers = tuple(
        Cpv2Customer(
            account_number=account.account_number,
            name=account.name,
            address=account.address,
            city=account.city,
            state=account.state,
            zip=account.zip,
            email_address=account.email,
            invoices=tuple(invoices),
        )
        for account, invoices in grouped.values()
    )
    return Cpv2Request(
        create_customer_record=options.create_customer_record,
        customers=customers,
        allow_swipe=options.allow_swipe,
        allow_emv=options.allow_emv,
        allow_cc_payment=options.allow_cc_payment,
        allow_ach_payment=options.allow_ach_payment,
        return_url=return_url,
        post_back_url=post_back_url,
        biller_reference=biller_reference,
        view_mode=options.view_mode,
        css_url=options.css_url,
        page_load_override=options.page_load_override,
        page_result_options=Cpv2PageResultOptions(
            allow_register_account=options.allow_register_account,
            invoice_options=Cpv2InvoiceOptions(
                allow_view_statement=options.allow_view_statement,
                allow_remove=options.allow_remove,
                allow_view_related=options.allow_view_related,
                allow_remind_me=options.allow_remind_me,
            ),
        ),
        statement_link_field=statement_link_field if links else None,
    )


# The invoice fields CPV2 has: the statement link's field may not be one of them (any case).
_INVOICE_FIELD_NAMES = frozenset(
    field.alias.lower() for field in Cpv2Invoice.model_fields.values() if field.alias is not None
)


def _first(preferred: int | None, fallback: int) -> int:
    return preferred if preferred is not None else fallback


class Cpv2ResponseData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cloud_payment_url: str | None = Field(None, alias="CloudPaymentURL")


class Cpv2Response(BaseModel):
    """``{"Message": "SUCCESS", "Data": {"CloudPaymentURL": ...}}``; anything else is an error."""

    model_config = ConfigDict(extra="ignore")

    message: str | None = Field(None, alias="Message")
    data: Cpv2ResponseData | None = Field(None, alias="Data")

    @property
    def succeeded(self) -> bool:
        return (self.message or "").strip().lower() == "success" and bool(self.data and self.data.cloud_payment_url)
