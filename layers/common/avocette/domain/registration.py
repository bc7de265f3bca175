"""Registration (DESIGN §6b): proving an account with its registration value, and the API models."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from avocette.domain.common import ACCOUNT_NUMBER, CamelModel, optional
from avocette.security import constant_time_equal, keyed_hash

__all__ = [
    "MAX_ACCOUNTS_PER_REGISTRATION",
    "AccountRegistration",
    "AccountResult",
    "IcRecord",
    "LinkOutcome",
    "LinkedAccountView",
    "RegistrationRequest",
    "RegistrationResponse",
    "RegistrationsView",
    "matches",
    "normalise_registration_value",
    "registration_hash",
]

MAX_ACCOUNTS_PER_REGISTRATION = 20
_PURPOSE = "registration"
_DROPPED = {" ", "-", "\u00a0", "\t"}


def normalise_registration_value(value: str) -> str:
    """NFKC, trimmed, upper-case, without spaces and dashes: ``" 3001-reg "`` and ``"3001REG"`` match."""
    folded = unicodedata.normalize("NFKC", value).strip().upper()
    return "".join(character for character in folded if character not in _DROPPED and not character.isspace())


def registration_hash(key: bytes, value: str) -> str:
    """The keyed hash stored on the account (never the value itself)."""
    return keyed_hash(key, normalise_registration_value(value), purpose=_PURPOSE)


# Compared against when the account is unknown, so that an unknown account takes as long as a wrong value.
_NO_ACCOUNT_HASH = "0" * 64


def matches(key: bytes, offered: str, stored_hash: str | None) -> bool:
    """Constant-time proof: the offered value's hash against the stored one (or a stand-in)."""
    offered_hash = registration_hash(key, offered)
    equal = constant_time_equal(offered_hash, stored_hash or _NO_ACCOUNT_HASH)
    return equal and bool(stored_hash)


class AccountRegistration(CamelModel):
    account_number: ACCOUNT_NUMBER
    registration_value: Annotated[
        str,
        StringConstraints(min_length=1, max_length=64),
        Field(description="The registration value printed on the bill.", examples=["3001-REG"]),
    ]


def _no_repeated_accounts(accounts: list[AccountRegistration]) -> list[AccountRegistration]:
    if any(count > 1 for count in Counter(account.account_number for account in accounts).values()):
        raise ValueError("each account may be named only once")
    return accounts


class RegistrationRequest(CamelModel):
    accounts: Annotated[
        list[AccountRegistration],
        Field(min_length=1, max_length=MAX_ACCOUNTS_PER_REGISTRATION, description="1 to 20 accounts, no repeats."),
        AfterValidator(_no_repeated_accounts),
    ]


class LinkOutcome(StrEnum):
    LINKED = "LINKED"
    ALREADY_LINKED = "ALREADY_LINKED"
    REJECTED = "REJECTED"


class IcRecord(StrEnum):
    EXISTING = "EXISTING"
    CREATED = "CREATED"
    UNKNOWN = "UNKNOWN"


class AccountResult(CamelModel):
    account_number: str
    outcome: LinkOutcome
    reason: Literal["not_found_or_mismatch", "rate_limited"] | None = optional()
    invoice_cloud_record: IcRecord
    invoice_cloud_registered: bool | None


class RegistrationResponse(CamelModel):
    status: Literal["REGISTERED", "NOT_REGISTERED"]
    email_sent: bool
    accounts: list[AccountResult]


class LinkedAccountView(CamelModel):
    account_number: str
    linked_at: datetime
    invoice_cloud_registered: bool | None


class RegistrationsView(CamelModel):
    status: Literal["REGISTERED", "NOT_REGISTERED"]
    accounts: list[LinkedAccountView]
