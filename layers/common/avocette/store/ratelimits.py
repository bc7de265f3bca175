"""Budgets of failed registration checks (DESIGN §6b): per user per hour, per account number per day.

A check first reserves one failure in both budgets, in one transaction whose conditions refuse to go
past either limit; a successful proof gives the reservation back. So concurrent requests can never
spend more than the budget, and only failures stay counted. The items carry ``ttl`` and vanish by
themselves once their window has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from avocette.store.table import TransactionRaceError, serialize_value, table_name, transact

__all__ = ["Reservation", "release", "reserve"]

_ATTEMPTS = 3


@dataclass(frozen=True)
class Reservation:
    keys: tuple[dict[str, Any], ...]


def _windows(sub: str, account_number: str, now: datetime) -> tuple[tuple[dict[str, Any], int], ...]:
    """(key, ttl) of the user's hour and the account's day that ``now`` falls in."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    return (
        (
            {"PK": {"S": f"RATELIMIT#USER#{sub}"}, "SK": {"S": f"HOUR#{hour:%Y-%m-%dT%H}"}},
            int((hour + timedelta(hours=2)).timestamp()),
        ),
        (
            {"PK": {"S": f"RATELIMIT#ACCOUNT#{account_number}"}, "SK": {"S": f"DAY#{day:%Y-%m-%d}"}},
            int((day + timedelta(days=2)).timestamp()),
        ),
    )


def reserve(sub: str, account_number: str, now: datetime, *, user_limit: int, account_limit: int) -> Reservation | None:
    """Reserve one failure in both budgets; None when either is spent."""
    windows = _windows(sub, account_number, now)
    items = [
        {
            "Update": {
                "TableName": table_name(),
                "Key": key,
                "UpdateExpression": "ADD #count :one SET #ttl = :ttl",
                "ConditionExpression": "attribute_not_exists(#count) OR #count < :limit",
                "ExpressionAttributeNames": {"#count": "count", "#ttl": "ttl"},
                "ExpressionAttributeValues": {
                    ":one": serialize_value(1),
                    ":ttl": serialize_value(ttl),
                    ":limit": serialize_value(limit),
                },
            }
        }
        for (key, ttl), limit in zip(windows, (user_limit, account_limit), strict=True)
    ]
    for attempt in range(_ATTEMPTS):
        try:
            transact(items)
            return Reservation(keys=tuple(key for key, _ in windows))
        except TransactionRaceError as race:
            if "ConditionalCheckFailed" in race.reasons:
                return None
            if attempt == _ATTEMPTS - 1:
                raise
    return None  # pragma: no cover - the loop returns or raises


def release(reservation: Reservation) -> None:
    """Give a reservation back (the check succeeded)."""
    transact(
        [
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": key,
                    "UpdateExpression": "ADD #count :minus_one",
                    "ConditionExpression": "attribute_exists(#count)",
                    "ExpressionAttributeNames": {"#count": "count"},
                    "ExpressionAttributeValues": {":minus_one": serialize_value(-1)},
                }
            }
            for key in reservation.keys
        ]
    )
