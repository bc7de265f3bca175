"""What payers read: the biller's name, its time zone, where the portal is, who emails come from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from avocette.errors import ConfigurationError
from avocette.settings.base import EnvSettings, boolean, text, variable

__all__ = [
    "DEFAULT_BILLER_TIME_ZONE",
    "PortalSettings",
    "get_biller_time_zone",
    "get_portal_settings",
    "has_payment_id",
]


def has_payment_id(url: str) -> str:
    if url and "{paymentId}" not in url:
        raise ValueError("PORTAL_RETURN_URL must contain {paymentId}")
    return url


DEFAULT_BILLER_TIME_ZONE = "America/New_York"


def _time_zone_name(name: str) -> str:
    """An IANA zone name the tz database knows (e.g. ``America/New_York``)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("BILLER_TIME_ZONE must be an IANA time zone name, e.g. America/New_York") from None
    return name


@dataclass(frozen=True)
class PortalSettings(EnvSettings):
    """What payers read: the biller's name, where the portal is, who emails come from."""

    biller_name: str = variable("BILLER_NAME", text(min_length=1))
    sender_email: str = variable("SENDER_EMAIL", str, "")
    portal_return_url: str = variable("PORTAL_RETURN_URL", has_payment_id, "")
    ic_customer_portal_url: str = variable("IC_CUSTOMER_PORTAL_URL", str, "")
    # Whether we email payers of bank (ACH) returns: off when Invoice Cloud already tells them (DESIGN §6d).
    ach_return_notice: bool = variable("ACH_RETURN_NOTICE", boolean, True)
    # Every date and time a payer reads (portal, emails) is shown in the biller's zone; the API keeps UTC.
    biller_time_zone: str = variable("BILLER_TIME_ZONE", _time_zone_name, DEFAULT_BILLER_TIME_ZONE)

    @property
    def time_zone(self) -> ZoneInfo:
        return ZoneInfo(self.biller_time_zone)

    @property
    def portal_url(self) -> str | None:
        """The portal's own address (PORTAL_RETURN_URL before its ``#`` or ``{paymentId}``)."""
        base = self.portal_return_url.split("#", 1)[0].split("{paymentId}", 1)[0]
        return base or None


@lru_cache(maxsize=1)
def get_portal_settings() -> PortalSettings:
    return PortalSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_biller_time_zone() -> ZoneInfo:
    """``BILLER_TIME_ZONE`` alone, for a function that shows a payer a time but reads no other of the
    portal's settings (starting a payment, when it must say until when)."""
    try:
        return ZoneInfo(_time_zone_name(os.environ.get("BILLER_TIME_ZONE") or DEFAULT_BILLER_TIME_ZONE))
    except ValueError:
        raise ConfigurationError("invalid or missing settings: BILLER_TIME_ZONE") from None
