"""Proving accounts (DESIGN §6b): the failure budgets, Invoice Cloud's time budget, and the key of
the registration values' keyed hash."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from avocette.errors import ConfigurationError
from avocette.settings.base import EnvSettings, get_secret, integer, number, required_variable, variable

__all__ = ["RegistrationSettings", "get_registration_hash_key", "get_registration_settings"]


@dataclass(frozen=True)
class RegistrationSettings(EnvSettings):
    """Proving accounts (DESIGN §6b): the failure budgets, Invoice Cloud's time budget and how often a
    listing asks it again."""

    registration_ic_budget_seconds: float = variable("REGISTRATION_IC_BUDGET_SECONDS", number(gt=0), 5.0)
    registration_user_failures_per_hour: int = variable("REGISTRATION_USER_FAILURES_PER_HOUR", integer(ge=1), 5)
    registration_account_failures_per_day: int = variable("REGISTRATION_ACCOUNT_FAILURES_PER_DAY", integer(ge=1), 10)
    # GET /registrations asks Invoice Cloud again about a link not yet seen registered there at most
    # this often (a payer may register at Invoice Cloud after linking; a page load must not hammer it).
    registration_ic_recheck_seconds: int = variable("REGISTRATION_IC_RECHECK_SECONDS", integer(ge=0), 60)


@lru_cache(maxsize=1)
def get_registration_settings() -> RegistrationSettings:
    return RegistrationSettings.from_environment(os.environ)


def get_registration_hash_key() -> bytes:
    """The key of the keyed hash of registration values (``REGISTRATION_HASH_KEY_ARN``)."""
    value = get_secret(required_variable("REGISTRATION_HASH_KEY_ARN"))
    if not value:
        raise ConfigurationError("the registration hash key is empty")
    return value.encode() if isinstance(value, str) else bytes(value)
