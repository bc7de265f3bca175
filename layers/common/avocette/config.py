"""Settings from the environment and secrets from Secrets Manager, each read once and cached.

Each function reads only the settings it uses (DESIGN §7): the settings are grouped by concern, each
group with its own getter, so that a read-only function starts without Invoice Cloud's settings and
its role without their secrets. Nothing here runs at import time: handlers call the getters inside
an invocation, so tests and the sandbox can set the environment first. Secrets go through
Powertools Parameters, which caches them across invocations of a warm Lambda.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools.utilities import parameters
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from avocette import money
from avocette.errors import ConfigurationError
from avocette.security import KeyRing

__all__ = [
    "Cpv2Options",
    "InvoiceCloudSecret",
    "InvoiceCloudSettings",
    "LedgerSettings",
    "PortalSettings",
    "PostbackSettings",
    "RegistrationSettings",
    "StartSettings",
    "get_cpv2_options",
    "get_exports_bucket",
    "get_invoice_cloud_secret",
    "get_invoice_cloud_settings",
    "get_ledger_settings",
    "get_portal_settings",
    "get_postback_key_ring",
    "get_postback_settings",
    "get_registration_hash_key",
    "get_registration_settings",
    "get_start_settings",
    "get_table_name",
]

SECRET_MAX_AGE_SECONDS = 300


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _fee_cents(value: Any) -> Any:
    if isinstance(value, str):
        return money.parse_cents(value)
    return value


def _json_object(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            raise ValueError("must be a JSON object") from None
    return value


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


CommaSeparated = Annotated[tuple[str, ...], BeforeValidator(_split_csv)]
FeeCents = Annotated[int, Field(ge=0), BeforeValidator(_fee_cents)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]
# IC_PAYMENT_TYPE_IDS: Invoice Cloud's PaymentTypeID values and the method each means (DESIGN §4a).
PaymentTypeIds = Annotated[dict[str, Literal["CARD", "ACH"]], BeforeValidator(_json_object)]


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


class _EnvSettings(BaseModel):
    """Settings read from the environment by variable name; an error names the variables, never a value."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Self:
        try:
            return cls.model_validate(dict(environ))
        except ValidationError as exc:
            names = ", ".join(sorted({_env_name(cls, error["loc"]) for error in exc.errors()}))
            raise ConfigurationError(f"invalid or missing settings: {names}") from None


def _env_name(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    if not loc:
        return "?"
    field = model.model_fields.get(str(loc[0]))
    if field is not None and field.alias:
        return field.alias
    return str(loc[0])


class LedgerSettings(_EnvSettings):
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


def _has_payment_id(url: str) -> str:
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


class PortalSettings(_EnvSettings):
    """What payers read: the biller's name, where the portal is, who emails come from."""

    biller_name: str = Field(alias="BILLER_NAME", min_length=1)
    sender_email: str = Field("", alias="SENDER_EMAIL")
    portal_return_url: Annotated[str, AfterValidator(_has_payment_id)] = Field("", alias="PORTAL_RETURN_URL")
    ic_customer_portal_url: str = Field("", alias="IC_CUSTOMER_PORTAL_URL")
    # Every date and time a payer reads (portal, emails) is shown in the biller's zone; the API keeps UTC.
    biller_time_zone: Annotated[str, AfterValidator(_time_zone_name)] = Field(
        DEFAULT_BILLER_TIME_ZONE, alias="BILLER_TIME_ZONE"
    )

    @property
    def time_zone(self) -> ZoneInfo:
        return ZoneInfo(self.biller_time_zone)

    @property
    def portal_url(self) -> str | None:
        """The portal's own address (PORTAL_RETURN_URL before its ``#`` or ``{paymentId}``)."""
        base = self.portal_return_url.split("#", 1)[0].split("{paymentId}", 1)[0]
        return base or None


class StartSettings(_EnvSettings):
    """POST /payments: the session, where Invoice Cloud calls back and sends the payer back."""

    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3)
    public_api_base_url: OptionalText = Field(None, alias="PUBLIC_API_BASE_URL")
    portal_return_url: Annotated[str, AfterValidator(_has_payment_id)] = Field(alias="PORTAL_RETURN_URL", min_length=1)
    payment_session_minutes: int = Field(30, alias="PAYMENT_SESSION_MINUTES", ge=1, le=24 * 60)


class PostbackSettings(_EnvSettings):
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


class InvoiceCloudSettings(_EnvSettings):
    """Calling Invoice Cloud: where, how long to wait, how to present the API key (DESIGN §4)."""

    ic_base_url: str = Field(alias="IC_BASE_URL", pattern=r"^https?://")
    ic_payment_url_prefixes: CommaSeparated = Field((), alias="IC_PAYMENT_URL_PREFIXES")
    ic_basic_auth_form: Literal["key", "key-colon"] = Field("key", alias="IC_BASIC_AUTH_FORM")
    ic_connect_timeout_seconds: float = Field(3.0, alias="IC_CONNECT_TIMEOUT_SECONDS", gt=0)
    ic_read_timeout_seconds: float = Field(10.0, alias="IC_READ_TIMEOUT_SECONDS", gt=0)
    ic_deadline_seconds: float = Field(20.0, alias="IC_DEADLINE_SECONDS", gt=0)
    ic_missing_record_fault: str = Field("(?i)not found", alias="IC_MISSING_RECORD_FAULT", min_length=1)

    @field_validator("ic_payment_url_prefixes")
    @classmethod
    def _prefixes_are_urls(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in prefixes:
            if not prefix.startswith(("https://", "http://")) or not prefix.endswith("/"):
                raise ValueError("each payment URL prefix must be an http(s) URL ending with '/'")
        return prefixes

    @field_validator("ic_missing_record_fault")
    @classmethod
    def _pattern_compiles(cls, pattern: str) -> str:
        re.compile(pattern)
        return pattern


class RegistrationSettings(_EnvSettings):
    """Proving accounts (DESIGN §6b): the failure budgets and Invoice Cloud's time budget."""

    registration_ic_budget_seconds: float = Field(5.0, alias="REGISTRATION_IC_BUDGET_SECONDS", gt=0)
    registration_user_failures_per_hour: int = Field(5, alias="REGISTRATION_USER_FAILURES_PER_HOUR", ge=1)
    registration_account_failures_per_day: int = Field(10, alias="REGISTRATION_ACCOUNT_FAILURES_PER_DAY", ge=1)


@lru_cache(maxsize=1)
def get_ledger_settings() -> LedgerSettings:
    return LedgerSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_portal_settings() -> PortalSettings:
    return PortalSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_start_settings() -> StartSettings:
    return StartSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_postback_settings() -> PostbackSettings:
    return PostbackSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_invoice_cloud_settings() -> InvoiceCloudSettings:
    return InvoiceCloudSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_registration_settings() -> RegistrationSettings:
    return RegistrationSettings.from_environment(os.environ)


@lru_cache(maxsize=1)
def get_cpv2_options() -> Cpv2Options:
    """The biller's CPV2 options (POST /payments only)."""
    try:
        return Cpv2Options.model_validate(dict(os.environ))
    except ValidationError as exc:
        names = ", ".join(sorted({_env_name(Cpv2Options, error["loc"]) for error in exc.errors()}))
        raise ConfigurationError(f"invalid or missing settings: {names}") from None


def _required_variable(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"invalid or missing settings: {name}")
    return value


def get_exports_bucket() -> str:
    """``EXPORTS_BUCKET_NAME``: where the biller's daily export is written (export_payments only)."""
    return _required_variable("EXPORTS_BUCKET_NAME")


@lru_cache(maxsize=1)
def get_table_name() -> str:
    """``APP_TABLE_NAME`` alone: the store, the importer and ops tools need no other setting."""
    return _required_variable("APP_TABLE_NAME")


class InvoiceCloudSecret(BaseModel):
    """``IC_SECRET_ARN``: the CPV2 API key and the CloudManagement credentials."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    api_key: SecretStr = Field(alias="apiKey")
    biller_guid: str = Field("", alias="billerGuid")
    web_service_key: SecretStr = Field(SecretStr(""), alias="webServiceKey")

    @field_validator("api_key")
    @classmethod
    def _api_key_is_set(cls, value: SecretStr) -> SecretStr:
        # The stack creates the secret with an empty key; ops set the real one after deploying.
        if not value.get_secret_value().strip():
            raise ValueError("apiKey is empty")
        return value


def _secret_json(arn: str, what: str) -> dict[str, Any]:
    try:
        value = parameters.get_secret(arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except parameters.exceptions.TransformParameterError:
        raise ConfigurationError(f"the {what} secret is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"the {what} secret is not a JSON object")
    return value


def get_invoice_cloud_secret() -> InvoiceCloudSecret:
    value = _secret_json(_required_variable("IC_SECRET_ARN"), "Invoice Cloud")
    try:
        return InvoiceCloudSecret.model_validate(value)
    except ValidationError:
        raise ConfigurationError("the Invoice Cloud secret lacks apiKey (set it after deploying)") from None


def get_postback_key_ring() -> KeyRing:
    value = _secret_json(_required_variable("POSTBACK_KEYS_ARN"), "postback key ring")
    try:
        return KeyRing.from_secret(value)
    except ValueError as exc:
        raise ConfigurationError(f"the postback key ring is malformed: {exc}") from None


def get_registration_hash_key() -> bytes:
    """The key of the keyed hash of registration values (``REGISTRATION_HASH_KEY_ARN``)."""
    value = parameters.get_secret(_required_variable("REGISTRATION_HASH_KEY_ARN"), max_age=SECRET_MAX_AGE_SECONDS)
    if not value:
        raise ConfigurationError("the registration hash key is empty")
    return value.encode() if isinstance(value, str) else bytes(value)
