"""The money rules' settings, each with its default (DESIGN §5, §6): any function may load them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from avocette.settings.base import EnvSettings, integer, text, variable

__all__ = ["LedgerSettings", "get_ledger_settings"]


@dataclass(frozen=True)
class LedgerSettings(EnvSettings):
    """The money rules' settings, each with its default: any function may read them."""

    settlement_lag_hours: int = variable("SETTLEMENT_LAG_HOURS", integer(ge=0), 24)
    # Invoice Cloud's page may outlive our session: its invoices stay held, and the payment open,
    # this much longer before it expires.
    payment_session_grace_minutes: int = variable("PAYMENT_SESSION_GRACE_MINUTES", integer(ge=0, le=24 * 60), 15)
    # After an approval, the invoices it did not pay in full stay held this long (not until the session
    # ends): Invoice Cloud's other postbacks of that payment arrive within it, and the payer can then
    # pay what remains (DESIGN §6c).
    hold_after_approval_minutes: int = variable("HOLD_AFTER_APPROVAL_MINUTES", integer(ge=0, le=24 * 60), 5)
    # Sessions a user may leave to expire in a day before they can start no more that day: one member
    # of a household cannot keep the others from paying a shared bill (DESIGN §6a).
    abandoned_sessions_per_day: int = variable("ABANDONED_SESSIONS_PER_DAY", integer(ge=1, le=100), 3)
    # Reconciliation with Invoice Cloud's payment file and the biller's export (DESIGN §6d, §6e).
    ach_return_days: int = variable("ACH_RETURN_DAYS", integer(ge=0, le=120), 5)
    reconcile_missing_days: int = variable("RECONCILE_MISSING_DAYS", integer(ge=1, le=60), 3)
    ic_payment_file_format: str = variable("IC_PAYMENT_FILE_FORMAT", text(min_length=1), "invoicecloud-payments-v1")
    biller_export_format: str = variable("BILLER_EXPORT_FORMAT", text(min_length=1), "biller-export-v1")
    # Days after a day of the biller's zone ends that its Invoice Cloud files may still come late: the
    # tie-out is made again until then, and a day that still does not tie out is alarmed (DESIGN §6f).
    tieout_grace_days: int = variable("TIEOUT_GRACE_DAYS", integer(ge=0, le=30), 2)


@lru_cache(maxsize=1)
def get_ledger_settings() -> LedgerSettings:
    return LedgerSettings.from_environment(os.environ)
