"""The only converter between integer cents, ``Decimal`` and text.

Money is stored as integer cents and travels as text with exactly two decimals. Nothing here
accepts a float: a float has already lost the amount it was meant to carry.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "MoneyError",
    "cents_to_decimal",
    "cents_to_text",
    "decimal_to_cents",
    "parse_cents",
]

_HUNDRED = Decimal(100)

# Optional minus, optional dollar sign, digits either plain or grouped by thousands with commas,
# optional fraction of one or two digits. Also accepts IC's "$1,000.00" and "-$5.00".
# ASCII digits only (re.ASCII): "\d" alone would read Arabic-Indic or full-width digits as money.
_AMOUNT = re.compile(r"^(?P<sign>-?)\$?(?P<units>\d+|\d{1,3}(?:,\d{3})+)(?:\.(?P<fraction>\d{1,2}))?$", re.ASCII)
_TOO_MANY_DECIMALS = re.compile(r"^-?\$?[\d,]+\.\d{3,}$", re.ASCII)


class MoneyError(ValueError):
    """An amount that cannot be read as money (never carries more than the offending text)."""


def parse_cents(text: str) -> int:
    """Read an amount written as text ("10", "10.5", "10.00", "$1,000.00", "-3.25") as cents.

    Refuses anything that is not a string, more than two decimals, exponents, non-finite values
    and stray characters.
    """
    if not isinstance(text, str):
        raise TypeError(f"amounts are parsed only from text, not {type(text).__name__}")
    candidate = text.strip()
    match = _AMOUNT.match(candidate)
    if match is None:
        if _TOO_MANY_DECIMALS.match(candidate):
            raise MoneyError("amount has more than two decimals")
        raise MoneyError("amount is not a number with at most two decimals")
    units = int(match.group("units").replace(",", ""))
    fraction = (match.group("fraction") or "").ljust(2, "0")
    cents = units * 100 + int(fraction)
    return -cents if match.group("sign") else cents


def decimal_to_cents(value: Decimal) -> int:
    """Convert a finite ``Decimal`` with at most two decimals to cents, exactly."""
    if not isinstance(value, Decimal):
        raise TypeError(f"expected Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise MoneyError("amount is not finite")
    scaled = value * _HUNDRED
    try:
        integral = scaled.to_integral_exact()
    except InvalidOperation as exc:  # pragma: no cover - to_integral_exact only signals Inexact here
        raise MoneyError("amount has more than two decimals") from exc
    if integral != scaled:
        raise MoneyError("amount has more than two decimals")
    return int(integral)


def cents_to_decimal(cents: int) -> Decimal:
    """Cents as a ``Decimal`` with exactly two decimals (``1050`` -> ``Decimal("10.50")``)."""
    _require_cents(cents)
    return (Decimal(cents) / _HUNDRED).quantize(Decimal("0.01"))


def cents_to_text(cents: int) -> str:
    """Cents as text with exactly two decimals and no grouping (``-1050`` -> ``"-10.50"``)."""
    _require_cents(cents)
    sign = "-" if cents < 0 else ""
    units, fraction = divmod(abs(cents), 100)
    return f"{sign}{units}.{fraction:02d}"


def _require_cents(cents: object) -> None:
    # bool is an int subclass; True cents is a bug, not a cent.
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise TypeError(f"cents must be an int, not {type(cents).__name__}")
