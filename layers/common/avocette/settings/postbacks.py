"""How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache

from pydantic import Field, field_validator

from avocette.settings.base import CommaSeparated, EnvSettings, PaymentTypeIds

__all__ = ["PostbackSettings", "get_postback_settings"]


class PostbackSettings(EnvSettings):
    """How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

    ic_amount_includes_fee: bool = Field(False, alias="IC_AMOUNT_INCLUDES_FEE")
    ic_payment_type_ids: PaymentTypeIds = Field(default_factory=dict, alias="IC_PAYMENT_TYPE_IDS")
    postback_source_cidrs: CommaSeparated = Field((), alias="POSTBACK_SOURCE_CIDRS")

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
