"""The store's items: integers only (no float ever reaches DynamoDB), and faithful round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from avocette.domain.billing import Account, Credit, Invoice
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.store import billing, keys, payment_items
from avocette.store.table import deserialize, serialize

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "item",
    [
        {"PK": "x", "amountCents": 10.5},
        {"PK": "x", "amountCents": 10.0},
        {"PK": "x", "amountCents": Decimal("10.50")},
        {"PK": "x", "credits": {"p": {"cents": 1.0}}},
        {"PK": "x", "lines": [{"dueCents": 3.14}]},
    ],
    ids=["float", "whole-float", "decimal", "nested-float", "float-in-list"],
)
def test_a_float_or_decimal_never_reaches_the_store(item: dict[str, object]) -> None:
    with pytest.raises(TypeError, match="integers only"):
        serialize(item)


def test_integers_booleans_and_text_are_stored() -> None:
    stored = serialize({"PK": "x", "cents": 1050, "ok": True, "none": None, "map": {}})
    assert stored == {"PK": {"S": "x"}, "cents": {"N": "1050"}, "ok": {"BOOL": True}, "map": {"M": {}}}
    assert deserialize(stored) == {"PK": "x", "cents": 1050, "ok": True, "map": {}}
    assert isinstance(deserialize(stored)["cents"], int)


def test_payment_item_round_trip_and_index_keys() -> None:
    payment = Payment(
        payment_id="p-1",
        sub="alice",
        status=PaymentStatus.APPROVED,
        lines=(
            PaymentLine(account_number="A", invoice_number="I", due_cents=500, paid_cents=500, allow_partial=False),
        ),
        created_at=NOW,
        session_expires_at=NOW + timedelta(minutes=30),
        completed_at=NOW + timedelta(minutes=2),
        ic_payment_ids=("g",),
        convenience_fee_cents=100,
        payment_method="CARD",
        card_type="Visa",
        version=3,
    )
    item = payment_items.payment_to_item(payment)
    assert (item["PK"], item["SK"]) == ("PAYMENT#p-1", "PAYMENT")
    assert (item["GSI1PK"], item["GSI1SK"]) == ("USER#alice", "2026-11-25T19:00:00Z#p-1")
    assert (item["GSI2PK"], item["GSI2SK"]) == ("DAY#2026-11-25", "2026-11-25T19:02:00Z#p-1")
    assert payment_items.payment_from_item(deserialize(serialize(item))) == payment


@pytest.mark.parametrize("status", [PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.DECLINED])
def test_open_payments_are_in_the_open_index(status: PaymentStatus) -> None:
    payment = Payment(
        payment_id="p-1", sub="alice", status=status,
        lines=(PaymentLine(account_number="A", invoice_number="I", due_cents=500),),
        created_at=NOW, session_expires_at=NOW + timedelta(minutes=30),
    )  # fmt: skip
    item = payment_items.payment_to_item(payment)
    assert (item["GSI2PK"], item["GSI2SK"]) == (keys.OPEN_PAYMENTS, "2026-11-25T19:30:00Z#p-1")


def test_invoice_and_account_items_round_trip() -> None:
    invoice = Invoice(
        account_number="A",
        invoice_number="I",
        invoice_date=date(2026, 10, 1),
        due_date=date(2026, 11, 1),
        type_id=6,
        cc_service_fee_cents=100,
        minimum_amount_due_cents=1000,
        allow_partial_payments=True,
        billed_cents=4200,
        billed_as_of=NOW,
        credits={"p-1": Credit(payment_id="p-0", cents=200, approved_at=NOW)},
        open_payment_id="p-2",
        open_until=NOW + timedelta(minutes=30),
    )
    assert billing.invoice_from_item(deserialize(serialize(billing.invoice_to_item(invoice)))) == invoice
    account = Account(account_number="A", name="N", email="e@example.com", registration_hash="h", billed_as_of=NOW)
    assert billing.account_from_item(deserialize(serialize(billing.account_to_item(account)))) == account


def test_a_new_invoice_item_always_has_a_credits_map() -> None:
    invoice = Invoice(account_number="A", invoice_number="I", billed_cents=1, billed_as_of=NOW)
    assert serialize(billing.invoice_to_item(invoice))["credits"] == {"M": {}}
