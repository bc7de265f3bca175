"""avocette.money: the only converter between cents, Decimal and text."""

from __future__ import annotations

from decimal import Decimal

import pytest
from avocette import money


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("10", 1000),
        ("10.0", 1000),
        ("10.00", 1000),
        ("10.5", 1050),
        ("0.07", 7),
        ("$1,000.00", 100000),
        ("1,234,567.89", 123456789),
        ("$25", 2500),
        ("-3.25", -325),
        ("-$5.00", -500),
        (" 42.10 ", 4210),
    ],
)
def test_parse_cents_reads_invoice_cloud_forms(text: str, cents: int) -> None:
    assert money.parse_cents(text) == cents


@pytest.mark.parametrize(
    "text",
    ["10.001", "$1,000.005", "NaN", "Infinity", "-inf", "1e3", "", "ten", "1,00.00", "10.", ".50", "$", "1 000", "+5"],
)
def test_parse_cents_refuses_what_is_not_money(text: str) -> None:
    with pytest.raises(money.MoneyError):
        money.parse_cents(text)


def test_parse_cents_says_when_there_are_too_many_decimals() -> None:
    with pytest.raises(money.MoneyError, match="more than two decimals"):
        money.parse_cents("10.001")


@pytest.mark.parametrize("value", [10.0, 10, Decimal("10.00"), None, b"10"])
def test_parse_cents_parses_only_strings(value: object) -> None:
    with pytest.raises(TypeError):
        money.parse_cents(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0.00"), (5, "0.05"), (1050, "10.50"), (-1050, "-10.50"), (100000, "1000.00")]
)
def test_cents_to_text_always_writes_two_decimals(cents: int, text: str) -> None:
    assert money.cents_to_text(cents) == text


def test_cents_to_decimal_is_exact_with_two_places() -> None:
    assert money.cents_to_decimal(1999) == Decimal("19.99")
    assert str(money.cents_to_decimal(1000)) == "10.00"


@pytest.mark.parametrize("value", [1.5, "150", True, Decimal("1.5")])
def test_cents_must_be_int(value: object) -> None:
    with pytest.raises(TypeError):
        money.cents_to_text(value)  # type: ignore[arg-type]


def test_decimal_to_cents_refuses_fractions_of_a_cent_and_non_finite() -> None:
    assert money.decimal_to_cents(Decimal("12.30")) == 1230
    with pytest.raises(money.MoneyError):
        money.decimal_to_cents(Decimal("12.305"))
    with pytest.raises(money.MoneyError):
        money.decimal_to_cents(Decimal("NaN"))
    with pytest.raises(money.MoneyError):
        money.decimal_to_cents(Decimal("Infinity"))
    with pytest.raises(TypeError):
        money.decimal_to_cents(12.3)  # type: ignore[arg-type]
