"""How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from avocette.settings.base import EnvSettings, boolean, comma_separated, payment_type_ids, variable

__all__ = ["PostbackSettings", "get_postback_settings"]


def _cidrs(raw: str) -> tuple[str, ...]:
    cidrs = comma_separated(raw)
    for cidr in cidrs:
        ipaddress.ip_network(cidr, strict=False)
    return cidrs


@dataclass(frozen=True)
class PostbackSettings(EnvSettings):
    """How Invoice Cloud's postbacks are read (DESIGN §4a) and from where they may come."""

    ic_amount_includes_fee: bool = variable("IC_AMOUNT_INCLUDES_FEE", boolean, False)
    ic_payment_type_ids: dict[str, Literal["CARD", "ACH"]] = variable(
        "IC_PAYMENT_TYPE_IDS", payment_type_ids, default_factory=dict
    )
    postback_source_cidrs: tuple[str, ...] = variable("POSTBACK_SOURCE_CIDRS", _cidrs, ())

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
