"""Starting a payment (DESIGN §6a): the session, where Invoice Cloud calls back and sends the payer
back, and the biller's CPV2 options (DESIGN §4)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from avocette.settings.base import (
    EnvSettings,
    boolean,
    fee_cents,
    integer,
    optional_text,
    text,
    variable,
)
from avocette.settings.portal import has_payment_id

__all__ = ["Cpv2Options", "StartSettings", "get_cpv2_options", "get_start_settings"]


@dataclass(frozen=True)
class Cpv2Options(EnvSettings):
    """The biller's CPV2 options (DESIGN §4): every one a required setting (template.yaml states the
    seed's values), none a constant in code. ``CPV2_CSS_URL`` may be blank."""

    create_customer_record: bool = variable("CPV2_CREATE_CUSTOMER_RECORD", boolean)
    allow_swipe: bool = variable("CPV2_ALLOW_SWIPE", boolean)
    allow_emv: bool = variable("CPV2_ALLOW_EMV", boolean)
    allow_cc_payment: bool = variable("CPV2_ALLOW_CC_PAYMENT", boolean)
    allow_ach_payment: bool = variable("CPV2_ALLOW_ACH_PAYMENT", boolean)
    view_mode: int = variable("CPV2_VIEW_MODE", integer(ge=0, le=1))
    page_load_override: int = variable("CPV2_PAGE_LOAD_OVERRIDE", integer())
    allow_register_account: bool = variable("CPV2_ALLOW_REGISTER_ACCOUNT", boolean)
    allow_view_statement: bool = variable("CPV2_ALLOW_VIEW_STATEMENT", boolean)
    allow_remove: bool = variable("CPV2_ALLOW_REMOVE", boolean)
    allow_view_related: bool = variable("CPV2_ALLOW_VIEW_RELATED", boolean)
    allow_remind_me: bool = variable("CPV2_ALLOW_REMIND_ME", boolean)
    invoice_type_id: int = variable("CPV2_INVOICE_TYPE_ID", integer())
    cc_service_fee_cents: int = variable("CPV2_CC_SERVICE_FEE", fee_cents)
    ach_service_fee_cents: int = variable("CPV2_ACH_SERVICE_FEE", fee_cents)
    css_url: str | None = variable("CPV2_CSS_URL", optional_text, None)


def _return_url(raw: str) -> str:
    return has_payment_id(text(min_length=1)(raw))


@dataclass(frozen=True)
class StartSettings(EnvSettings):
    """POST /payments: the session, where Invoice Cloud calls back and sends the payer back."""

    idempotency_table_name: str = variable("IDEMPOTENCY_TABLE_NAME", text(min_length=3))
    portal_return_url: str = variable("PORTAL_RETURN_URL", _return_url)
    public_api_base_url: str | None = variable("PUBLIC_API_BASE_URL", optional_text, None)
    payment_session_minutes: int = variable("PAYMENT_SESSION_MINUTES", integer(ge=1, le=24 * 60), 30)


@lru_cache(maxsize=1)
def get_start_settings() -> StartSettings:
    return StartSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_cpv2_options() -> Cpv2Options:
    """The biller's CPV2 options (POST /payments only)."""
    return Cpv2Options.from_environment(os.environ)
