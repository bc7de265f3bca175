"""The money rules' settings, each with its default (DESIGN §5, §6): any function may load them."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field

from avocette.settings.base import EnvSettings

__all__ = ["LedgerSettings", "get_ledger_settings"]


class LedgerSettings(EnvSettings):
    """The money rules' settings, each with its default: any function may read them."""

    settlement_lag_hours: int = Field(24, alias="SETTLEMENT_LAG_HOURS", ge=0)
    # Invoice Cloud's page may outlive our session: its invoices stay held, and the payment open,
    # this much longer before it expires.
    payment_session_grace_minutes: int = Field(15, alias="PAYMENT_SESSION_GRACE_MINUTES", ge=0, le=24 * 60)
    # After an approval, the invoices it did not pay in full stay held this long (not until the session
    # ends): Invoice Cloud's other postbacks of that payment arrive within it, and the payer can then
    # pay what remains (DESIGN §6c).
    hold_after_approval_minutes: int = Field(5, alias="HOLD_AFTER_APPROVAL_MINUTES", ge=0, le=24 * 60)
    # Sessions a user may leave to expire in a day before they can start no more that day: one member
    # of a household cannot keep the others from paying a shared bill (DESIGN §6a).
    abandoned_sessions_per_day: int = Field(3, alias="ABANDONED_SESSIONS_PER_DAY", ge=1, le=100)
    # Reconciliation with Invoice Cloud's payment file and the biller's export (DESIGN §6d, §6e).
    ach_return_days: int = Field(5, alias="ACH_RETURN_DAYS", ge=0, le=120)
    reconcile_missing_days: int = Field(3, alias="RECONCILE_MISSING_DAYS", ge=1, le=60)
    ic_payment_file_format: str = Field("invoicecloud-payments-v1", alias="IC_PAYMENT_FILE_FORMAT", min_length=1)
    biller_export_format: str = Field("biller-export-v1", alias="BILLER_EXPORT_FORMAT", min_length=1)
    # Days after a day of the biller's zone ends that its Invoice Cloud files may still come late: the
    # tie-out is made again until then, and a day that still does not tie out is alarmed (DESIGN §6f).
    tieout_grace_days: int = Field(2, alias="TIEOUT_GRACE_DAYS", ge=0, le=30)


@lru_cache(maxsize=1)
def get_ledger_settings() -> LedgerSettings:
    return LedgerSettings.from_environment(os.environ)
