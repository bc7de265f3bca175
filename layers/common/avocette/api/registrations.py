"""POST /registrations, GET /registrations: the request and the answers (DESIGN §3, §6b)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from avocette.api.common import ACCOUNT_NUMBER, CamelModel, optional
from avocette.domain.registration import MAX_ACCOUNTS_PER_REGISTRATION

__all__ = [
    "AccountRegistration",
    "AccountResult",
    "IcRecord",
    "LinkOutcome",
    "LinkedAccountView",
    "RegistrationRequest",
    "RegistrationResponse",
    "RegistrationsView",
]


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
