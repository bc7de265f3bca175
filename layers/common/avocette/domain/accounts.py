"""What an account owes (DESIGN §5): its invoices' payable amounts, netting its credit balances."""

from __future__ import annotations

from avocette.domain.billing import Invoice

__all__ = ["account_total_cents"]


def account_total_cents(open_invoices: list[Invoice]) -> int:
    """What an account owes: the payable amount of each invoice, less the balance of each credit
    invoice (billed below zero), never below zero (DESIGN §5)."""
    owed = sum(
        invoice.billed_cents if invoice.billed_cents < 0 else invoice.payable_cents() for invoice in open_invoices
    )
    return max(0, owed)
