"""How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from avocette.invoicecloud.postback import DEFAULT_PAYMENT_DATE_FORMATS, DEFAULT_PAYMENT_DATE_TIME_ZONE
from avocette.settings.base import (
    EnvSettings,
    boolean,
    cidrs,
    payment_type_ids,
    source_allowed,
    variable,
)

__all__ = ["PostbackSettings", "get_postback_settings"]


def _date_formats(raw: str) -> tuple[str, ...]:
    """strptime formats separated by "|" (a comma may be part of a format), tried in order."""
    return tuple(part.strip() for part in raw.split("|") if part.strip()) or DEFAULT_PAYMENT_DATE_FORMATS


def _zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name, e.g. America/New_York") from None
    return raw


@dataclass(frozen=True)
class PostbackSettings(EnvSettings):
    """How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

    ic_amount_includes_fee: bool = variable("IC_AMOUNT_INCLUDES_FEE", boolean, False)
    ic_payment_type_ids: dict[str, Literal["CARD", "ACH"]] = variable(
        "IC_PAYMENT_TYPE_IDS", payment_type_ids, default_factory=dict
    )
    postback_source_cidrs: tuple[str, ...] = variable("POSTBACK_SOURCE_CIDRS", cidrs, ())
    # PaymentDate's form and, for a value without an offset, its zone (DESIGN §4a, §6e).
    ic_payment_date_formats: tuple[str, ...] = variable(
        "IC_PAYMENT_DATE_FORMATS", _date_formats, DEFAULT_PAYMENT_DATE_FORMATS
    )
    ic_payment_date_time_zone: str = variable("IC_PAYMENT_DATE_TIME_ZONE", _zone, DEFAULT_PAYMENT_DATE_TIME_ZONE)

    @property
    def payment_date_zone(self) -> ZoneInfo:
        return ZoneInfo(self.ic_payment_date_time_zone)

    def postback_source_allowed(self, source_ip: str | None) -> bool:
        """True when no CIDRs are configured, or the source address lies in one of them."""
        return source_allowed(self.postback_source_cidrs, source_ip)


@lru_cache(maxsize=1)
def get_postback_settings() -> PostbackSettings:
    return PostbackSettings.from_environment(os.environ)
