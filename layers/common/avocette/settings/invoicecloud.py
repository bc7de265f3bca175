"""Calling Invoice Cloud (DESIGN §4): where, how long to wait, how to present the API key; and its
credentials (``IC_SECRET_ARN``)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from avocette.errors import ConfigurationError, InvoiceCloudNotConfiguredError
from avocette.settings.base import CommaSeparated, EnvSettings, required_variable, secret_json

__all__ = ["InvoiceCloudSecret", "InvoiceCloudSettings", "get_invoice_cloud_secret", "get_invoice_cloud_settings"]


class InvoiceCloudSettings(EnvSettings):
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


@lru_cache(maxsize=1)
def get_invoice_cloud_settings() -> InvoiceCloudSettings:
    return InvoiceCloudSettings.from_environment(os.environ)


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


def get_invoice_cloud_secret() -> InvoiceCloudSecret:
    """Raises :class:`InvoiceCloudNotConfiguredError` while the secret's ``apiKey`` is empty or absent
    (the stack creates it so), :class:`ConfigurationError` when it is malformed."""
    value = secret_json(required_variable("IC_SECRET_ARN"), "Invoice Cloud")
    api_key = value.get("apiKey")
    if api_key is None or (isinstance(api_key, str) and not api_key.strip()):
        raise InvoiceCloudNotConfiguredError("the Invoice Cloud secret lacks apiKey (set it after deploying)")
    try:
        return InvoiceCloudSecret.model_validate(value)
    except ValidationError:
        raise ConfigurationError("the Invoice Cloud secret is malformed (apiKey, billerGuid, webServiceKey)") from None
