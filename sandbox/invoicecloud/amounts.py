"""Money as the simulator reads and writes it: ``Decimal`` throughout, text only at the edges."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = ["CENT", "dollars", "format_postback_amount", "money", "parse_amount"]

CENT: Final = Decimal("0.01")

# What a payer may type in an amount field: "12", "12.3", "12.34", "$1,024.00". No signs, no
# exponents, at most two decimals: a third decimal is refused, never rounded away.
_AMOUNT_TEXT: Final = re.compile(r"\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?")


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


def parse_amount(value: Any) -> Decimal | None:
    """An amount typed on a page or sent to the control API (text, or an exact JSON number), in cents.

    ``None`` for anything else: a float (it may already have lost a cent), a bool, a negative
    number, more than two decimals, NaN or an exponent.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = _AMOUNT_TEXT.fullmatch(value.strip())
        if match is None:
            return None
        value = Decimal(match.group(1).replace(",", "") + (match.group(2) or ""))
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        return None
    try:
        cents = value.quantize(CENT)
    except InvalidOperation:  # more digits than the context holds: no invoice is that large
        return None
    return cents if cents == value else None
