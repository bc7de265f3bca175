"""Calling Invoice Cloud (DESIGN §4): where, how long to wait, how to present the API key; and its
credentials (``IC_SECRET_ARN``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from avocette.errors import ConfigurationError, InvoiceCloudNotConfiguredError
from avocette.settings.base import (
    EnvSettings,
    SecretText,
    choice,
    comma_separated,
    number,
    required_variable,
    secret_json,
    text,
    variable,
)

__all__ = ["InvoiceCloudSecret", "InvoiceCloudSettings", "get_invoice_cloud_secret", "get_invoice_cloud_settings"]


def _payment_url_prefixes(raw: str) -> tuple[str, ...]:
    prefixes = comma_separated(raw)
    for prefix in prefixes:
        if not prefix.startswith(("https://", "http://")) or not prefix.endswith("/"):
            raise ValueError("each payment URL prefix must be an http(s) URL ending with '/'")
    return prefixes


def _fault_pattern(raw: str) -> str:
    re.compile(text(min_length=1)(raw))
    return raw


@dataclass(frozen=True)
class InvoiceCloudSettings(EnvSettings):
    """Calling Invoice Cloud: where, how long to wait, how to present the API key (DESIGN §4)."""

    ic_base_url: str = variable("IC_BASE_URL", text(pattern=r"^https?://"))
    ic_payment_url_prefixes: tuple[str, ...] = variable("IC_PAYMENT_URL_PREFIXES", _payment_url_prefixes, ())
    ic_basic_auth_form: str = variable("IC_BASIC_AUTH_FORM", choice("key", "key-colon"), "key")
    ic_connect_timeout_seconds: float = variable("IC_CONNECT_TIMEOUT_SECONDS", number(gt=0), 3.0)
    ic_read_timeout_seconds: float = variable("IC_READ_TIMEOUT_SECONDS", number(gt=0), 10.0)
    ic_deadline_seconds: float = variable("IC_DEADLINE_SECONDS", number(gt=0), 20.0)
    ic_missing_record_fault: str = variable("IC_MISSING_RECORD_FAULT", _fault_pattern, "(?i)not found")


@lru_cache(maxsize=1)
def get_invoice_cloud_settings() -> InvoiceCloudSettings:
    return InvoiceCloudSettings.from_environment(os.environ)


@dataclass(frozen=True)
class InvoiceCloudSecret:
    """``IC_SECRET_ARN``: the CPV2 API key and the CloudManagement credentials."""

    api_key: SecretText
    biller_guid: str = ""
    web_service_key: SecretText = SecretText("")

    @classmethod
    def from_secret(cls, value: Mapping[str, Any]) -> InvoiceCloudSecret:
        """``{"apiKey", "billerGuid", "webServiceKey"}``; ``ValueError`` when the API key is not set
        (the stack creates the secret with an empty key; ops set the real one after deploying)."""
        api_key, biller_guid, web_service_key = (
            value.get("apiKey"),
            value.get("billerGuid", ""),
            value.get("webServiceKey", ""),
        )
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("apiKey is empty")
        if not isinstance(biller_guid, str) or not isinstance(web_service_key, str):
            raise ValueError("billerGuid and webServiceKey are text")
        return cls(api_key=SecretText(api_key), biller_guid=biller_guid, web_service_key=SecretText(web_service_key))


def get_invoice_cloud_secret() -> InvoiceCloudSecret:
    """Raises :class:`InvoiceCloudNotConfiguredError` while the secret's ``apiKey`` is empty or absent
    (the stack creates it so), :class:`ConfigurationError` when it is malformed."""
    value = secret_json(required_variable("IC_SECRET_ARN"), "Invoice Cloud")
    api_key = value.get("apiKey")
    if api_key is None or (isinstance(api_key, str) and not api_key.strip()):
        raise InvoiceCloudNotConfiguredError("the Invoice Cloud secret lacks apiKey (set it after deploying)")
    try:
        return InvoiceCloudSecret.from_secret(value)
    except ValueError:
        raise ConfigurationError("the Invoice Cloud secret is malformed (apiKey, billerGuid, webServiceKey)") from None
