"""Cells of the files we hand the biller, which may be opened in a spreadsheet (DESIGN §6e, §6g)."""

from __future__ import annotations

__all__ = ["FORMULA_STARTS", "formula_safe"]

# A cell a spreadsheet would run as a formula gets a leading quote (OWASP's CSV injection advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: str) -> str:
    """``value``, with a leading ``'`` when it starts like a formula (``=``, ``+``, ``-``, ``@``, tab, CR)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
