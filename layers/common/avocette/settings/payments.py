"""Starting a payment (DESIGN §6a): the session, where Invoice Cloud calls back and sends the payer
back, and the biller's CPV2 options (DESIGN §4)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from avocette.errors import ConfigurationError
from avocette.settings.base import EnvSettings, FeeCents, OptionalText, env_name
from avocette.settings.portal import has_payment_id

__all__ = ["Cpv2Options", "StartSettings", "get_cpv2_options", "get_start_settings"]


class Cpv2Options(BaseModel):
    """The biller's CPV2 options (DESIGN §4): every one a required setting (template.yaml states the
    seed's values), none a constant in code. ``CPV2_CSS_URL`` may be blank."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    create_customer_record: bool = Field(alias="CPV2_CREATE_CUSTOMER_RECORD")
    allow_swipe: bool = Field(alias="CPV2_ALLOW_SWIPE")
    allow_emv: bool = Field(alias="CPV2_ALLOW_EMV")
    allow_cc_payment: bool = Field(alias="CPV2_ALLOW_CC_PAYMENT")
    allow_ach_payment: bool = Field(alias="CPV2_ALLOW_ACH_PAYMENT")
    view_mode: int = Field(alias="CPV2_VIEW_MODE", ge=0, le=1)
    page_load_override: int = Field(alias="CPV2_PAGE_LOAD_OVERRIDE")
    css_url: OptionalText = Field(None, alias="CPV2_CSS_URL")
    allow_register_account: bool = Field(alias="CPV2_ALLOW_REGISTER_ACCOUNT")
    allow_view_statement: bool = Field(alias="CPV2_ALLOW_VIEW_STATEMENT")
    allow_remove: bool = Field(alias="CPV2_ALLOW_REMOVE")
    allow_view_related: bool = Field(alias="CPV2_ALLOW_VIEW_RELATED")
    allow_remind_me: bool = Field(alias="CPV2_ALLOW_REMIND_ME")
    invoice_type_id: int = Field(alias="CPV2_INVOICE_TYPE_ID")
    cc_service_fee_cents: FeeCents = Field(alias="CPV2_CC_SERVICE_FEE")
    ach_service_fee_cents: FeeCents = Field(alias="CPV2_ACH_SERVICE_FEE")


class StartSettings(EnvSettings):
    """POST /payments: the session, where Invoice Cloud calls back and sends the payer back."""

    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3)
    public_api_base_url: OptionalText = Field(None, alias="PUBLIC_API_BASE_URL")
    portal_return_url: Annotated[str, AfterValidator(has_payment_id)] = Field(alias="PORTAL_RETURN_URL", min_length=1)
    payment_session_minutes: int = Field(30, alias="PAYMENT_SESSION_MINUTES", ge=1, le=24 * 60)


@lru_cache(maxsize=1)
def get_start_settings() -> StartSettings:
    return StartSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_cpv2_options() -> Cpv2Options:
    """The biller's CPV2 options (POST /payments only)."""
    try:
        return Cpv2Options.model_validate(dict(os.environ))
    except ValidationError as exc:
        names = ", ".join(sorted({env_name(Cpv2Options, error["loc"]) for error in exc.errors()}))
        raise ConfigurationError(f"invalid or missing settings: {names}") from None
