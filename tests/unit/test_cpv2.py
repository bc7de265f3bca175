"""The CPV2 request: every parameter of the seed's tables, serialized as Invoice Cloud expects."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from avocette.domain.billing import Account, Invoice
from avocette.invoicecloud import cpv2
from avocette.settings.payments import Cpv2Options
from pydantic import ValidationError

from stackdef.template import function_specs

SEED_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "cpv2_seed_sample.txt"

# Every parameter named in the seed's tables, by object.
SEED_TABLE_FIELDS = {
    cpv2.Cpv2Request: {
        "ReturnURL", "PostBackURL", "BillerReference", "ViewMode", "CssUrl", "Customers",
        "AllowSwipe", "AllowEMV", "EMVDeviceID", "EMVLocationID", "CashierName", "AllowCCPayment",
        "AllowACHPayment", "CreateCustomerRecord", "RemoteAuthenticationToken", "PageLoadOverride",
        "PageResultOptions",
    },
    cpv2.Cpv2Customer: {
        "AccountNumber", "DisplayAccountNumber", "Name", "Address", "City", "State", "Zip", "EmailAddress", "Invoices",
    },
    cpv2.Cpv2Invoice: {
        "InvoiceNumber", "TypeID", "InvoiceDate", "DueDate", "BalanceDue", "CCServiceFee", "ACHServiceFee",
        "MinimumAmountDue", "AllowPartialPayments",
    },
    cpv2.Cpv2PageResultOptions: {"InvoiceOptions", "AllowRegisterAccount"},
    cpv2.Cpv2InvoiceOptions: {"AllowViewStatement", "AllowRemove", "AllowViewRelated", "AllowRemindMe"},
}  # fmt: skip


def template_options() -> Cpv2Options:
    """The CPV2 options exactly as template.yaml deploys them."""
    (start,) = [spec for spec in function_specs() if spec.logical_id == "StartPaymentFunction"]
    return Cpv2Options.from_environment(
        {name: value for name, value in start.environment.items() if name.startswith("CPV2_")}
    )


def seed_sample() -> dict[str, Any]:
    """The seed's sample, with its two slips mended: Python's False, and AchServiceFee (the tables
    spell ACHServiceFee). Empty values (ReturnURL "") are left out, as we send them."""
    text = SEED_SAMPLE.read_text().replace("False", "false").replace("AchServiceFee", "ACHServiceFee")
    sample = json.loads(text, parse_float=Decimal)
    del sample["ReturnURL"]
    sample["PostBackURL"] = sample["PostBackURL"].strip()
    return sample


def seed_request(return_url: str = "") -> cpv2.Cpv2Request:
    account = Account(
        account_number="ACCT-TEST-001",
        name="John S",
        address="123 Main Street",
        city="Tampa",
        state="FL",
        zip="12345",
        email="none@none.com",
    )
    invoice = Invoice(
        account_number="ACCT-TEST-001",
        invoice_number="INV-TEST-001",
        invoice_date=date(2024, 4, 27),
        due_date=date(2099, 8, 20),
        billed_cents=1000,
        billed_as_of=datetime(2026, 11, 1, tzinfo=UTC),
    )
    return cpv2.build_payment_request(
        template_options(),
        [(account, invoice, 1000)],
        post_back_url="https://www.yourdomain.com/postback.aspx",
        return_url=return_url,
        biller_reference="A unique reference number generated from Biller",
    )


@pytest.mark.parametrize(("model", "fields"), SEED_TABLE_FIELDS.items(), ids=lambda item: getattr(item, "__name__", ""))
def test_model_declares_every_parameter_of_the_seed_tables(model: type, fields: set[str]) -> None:
    # Excluded fields are not parameters of their own: the statement link goes out under the field the
    # setting names (IC_STATEMENT_LINK_FIELD, DESIGN §4a), which is not one of the seed's.
    declared = {field.alias for field in model.model_fields.values() if not field.exclude}
    assert declared == fields


def test_request_built_from_template_settings_matches_the_seed_sample() -> None:
    sent = json.loads(cpv2.encode_request(seed_request()), parse_float=Decimal)
    assert sent == seed_sample()


def test_wire_format_uses_json_booleans_two_decimal_numbers_and_ic_dates() -> None:
    text = cpv2.encode_request(seed_request()).decode()
    assert '"BalanceDue":10.00' in text
    assert '"CCServiceFee":1.00' in text and '"ACHServiceFee":1.00' in text
    assert '"AllowSwipe":false' in text and '"AllowRemove":true' in text
    assert "False" not in text and "True" not in text
    assert '"DueDate":"08/20/2099"' in text and '"InvoiceDate":"04/27/2024"' in text
    assert "AchServiceFee" not in text


def test_empty_values_are_left_out_but_false_and_zero_stay() -> None:
    wire = seed_request(return_url="").to_wire()
    assert "ReturnURL" not in wire
    assert "CssUrl" not in wire and "EMVDeviceID" not in wire and "CashierName" not in wire
    assert "MinimumAmountDue" not in wire["Customers"][0]["Invoices"][0]
    assert "DisplayAccountNumber" not in wire["Customers"][0]
    assert wire["ViewMode"] == 0
    assert wire["AllowSwipe"] is False


def test_per_invoice_billing_values_win_over_settings() -> None:
    options = template_options()
    account = Account(account_number="A-1", name="N")
    invoice = Invoice(
        account_number="A-1",
        invoice_number="I-1",
        type_id=9,
        cc_service_fee_cents=250,
        ach_service_fee_cents=0,
        minimum_amount_due_cents=2000,
        allow_partial_payments=True,
        billed_cents=5000,
        billed_as_of=datetime(2026, 11, 1, tzinfo=UTC),
    )
    plain = Invoice(account_number="A-1", invoice_number="I-2", billed_cents=700, billed_as_of=invoice.billed_as_of)
    request = cpv2.build_payment_request(
        options,
        [(account, invoice, 5000), (account, plain, 700)],
        post_back_url="https://x/p",
        return_url="https://x/r",
        biller_reference="p1",
    )
    first, second = json.loads(cpv2.encode_request(request), parse_float=Decimal)["Customers"][0]["Invoices"]
    assert (
        first["TypeID"] == 9 and first["CCServiceFee"] == Decimal("2.50") and first["ACHServiceFee"] == Decimal("0.00")
    )
    assert first["MinimumAmountDue"] == Decimal("20.00") and first["AllowPartialPayments"] is True
    assert second["TypeID"] == options.invoice_type_id == 6
    assert second["CCServiceFee"] == Decimal("1.00") and "AllowPartialPayments" not in second


def test_minimum_never_exceeds_what_is_charged() -> None:
    invoice = Invoice(
        account_number="A-1", invoice_number="I-1", minimum_amount_due_cents=5000, billed_cents=9000,
        billed_as_of=datetime(2026, 11, 1, tzinfo=UTC),
    )  # fmt: skip
    request = cpv2.build_payment_request(
        template_options(),
        [(Account(account_number="A-1"), invoice, 3000)],
        post_back_url="https://x/p",
        return_url="",
        biller_reference="p",
    )
    assert request.customers[0].invoices[0].minimum_amount_due_cents == 3000


def test_one_customer_per_account_with_its_invoices_in_order() -> None:
    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    a, b = Account(account_number="A"), Account(account_number="B")
    items = [
        (a, Invoice(account_number="A", invoice_number="A-1", billed_cents=100, billed_as_of=as_of), 100),
        (b, Invoice(account_number="B", invoice_number="B-1", billed_cents=200, billed_as_of=as_of), 200),
        (a, Invoice(account_number="A", invoice_number="A-2", billed_cents=300, billed_as_of=as_of), 300),
    ]
    request = cpv2.build_payment_request(
        template_options(), items, post_back_url="https://x", return_url="", biller_reference="p"
    )
    assert [(c.account_number, [i.invoice_number for i in c.invoices]) for c in request.customers] == [
        ("A", ["A-1", "A-2"]),
        ("B", ["B-1"]),
    ]


def test_request_needs_a_customer_and_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        cpv2.Cpv2Request(customers=(), view_mode=0)
    with pytest.raises(ValidationError):
        cpv2.Cpv2Invoice.model_validate({"InvoiceNumber": "I", "AchServiceFee": 1})


@pytest.mark.parametrize(
    ("body", "succeeded"),
    [
        ({"Message": "SUCCESS", "Data": {"CloudPaymentURL": "https://www.invoicecloud.com/x"}}, True),
        ({"Message": "success", "Data": {"CloudPaymentURL": "https://www.invoicecloud.com/x"}}, True),
        ({"Message": "SUCCESS", "Data": {}}, False),
        ({"Message": "SUCCESS", "Data": None}, False),
        ({"Message": "Invalid biller", "Data": {"CloudPaymentURL": "https://www.invoicecloud.com/x"}}, False),
        ({}, False),
    ],
)
def test_success_rule(body: dict[str, Any], succeeded: bool) -> None:
    assert cpv2.Cpv2Response.model_validate(body).succeeded is succeeded


def test_amounts_are_never_floats_on_the_wire() -> None:
    text = cpv2.encode_request(seed_request()).decode()
    assert not re.search(r":\d+\.\d{3,}", text)
    assert not re.search(r'"BalanceDue":10[,}]', text)
