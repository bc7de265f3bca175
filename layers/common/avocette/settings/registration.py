"""Proving accounts (DESIGN §6b): the failure budgets, Invoice Cloud's time budget, and the key of
the registration values' keyed hash."""

from __future__ import annotations

import os
from functools import lru_cache

from aws_lambda_powertools.utilities import parameters
from pydantic import Field

from avocette.errors import ConfigurationError
from avocette.settings.base import SECRET_MAX_AGE_SECONDS, EnvSettings, required_variable

__all__ = ["RegistrationSettings", "get_registration_hash_key", "get_registration_settings"]


class RegistrationSettings(EnvSettings):
    """Proving accounts (DESIGN §6b): the failure budgets, Invoice Cloud's time budget and how often a
    listing asks it again."""

    registration_ic_budget_seconds: float = Field(5.0, alias="REGISTRATION_IC_BUDGET_SECONDS", gt=0)
    registration_user_failures_per_hour: int = Field(5, alias="REGISTRATION_USER_FAILURES_PER_HOUR", ge=1)
    registration_account_failures_per_day: int = Field(10, alias="REGISTRATION_ACCOUNT_FAILURES_PER_DAY", ge=1)
    # GET /registrations asks Invoice Cloud again about a link not yet seen registered there at most
    # this often (a payer may register at Invoice Cloud after linking; a page load must not hammer it).
    registration_ic_recheck_seconds: int = Field(60, alias="REGISTRATION_IC_RECHECK_SECONDS", ge=0)


@lru_cache(maxsize=1)
def get_registration_settings() -> RegistrationSettings:
    return RegistrationSettings.from_environment(os.environ)


def get_registration_hash_key() -> bytes:
    """The key of the keyed hash of registration values (``REGISTRATION_HASH_KEY_ARN``)."""
    value = parameters.get_secret(required_variable("REGISTRATION_HASH_KEY_ARN"), max_age=SECRET_MAX_AGE_SECONDS)
    if not value:
        raise ConfigurationError("the registration hash key is empty")
    return value.encode() if isinstance(value, str) else bytes(value)
