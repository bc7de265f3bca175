"""How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator

from avocette.invoicecloud.postback import DEFAULT_PAYMENT_DATE_FORMATS, DEFAULT_PAYMENT_DATE_TIME_ZONE
from avocette.settings.base import CommaSeparated, EnvSettings, PaymentTypeIds

__all__ = ["PostbackSettings", "get_postback_settings"]


def _bar_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split("|") if part.strip()) or DEFAULT_PAYMENT_DATE_FORMATS
    return value


# strptime formats separated by "|" (a comma may be part of a format), tried in order.
DateFormats = Annotated[tuple[str, ...], BeforeValidator(_bar_separated)]


class PostbackSettings(EnvSettings):
    """How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

    ic_amount_includes_fee: bool = Field(False, alias="IC_AMOUNT_INCLUDES_FEE")
    ic_payment_type_ids: PaymentTypeIds = Field(default_factory=dict, alias="IC_PAYMENT_TYPE_IDS")
    postback_source_cidrs: CommaSeparated = Field((), alias="POSTBACK_SOURCE_CIDRS")
    # PaymentDate's form and, for a value without an offset, its zone (DESIGN §4a, §6e).
    ic_payment_date_formats: DateFormats = Field(DEFAULT_PAYMENT_DATE_FORMATS, alias="IC_PAYMENT_DATE_FORMATS")
    ic_payment_date_time_zone: str = Field(DEFAULT_PAYMENT_DATE_TIME_ZONE, alias="IC_PAYMENT_DATE_TIME_ZONE")

    @field_validator("ic_payment_date_time_zone")
    @classmethod
    def _zone_exists(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name, e.g. America/New_York") from None
        return zone

    @property
    def payment_date_zone(self) -> ZoneInfo:
        return ZoneInfo(self.ic_payment_date_time_zone)

    @field_validator("postback_source_cidrs")
    @classmethod
    def _cidrs_parse(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            ipaddress.ip_network(cidr, strict=False)
        return cidrs

    def postback_source_allowed(self, source_ip: str | None) -> bool:
        """True when no CIDRs are configured, or the source address lies in one of them."""
        if not self.postback_source_cidrs:
            return True
        if not source_ip:
            return False
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in self.postback_source_cidrs)


@lru_cache(maxsize=1)
def get_postback_settings() -> PostbackSettings:
    return PostbackSettings.from_environment(os.environ)
