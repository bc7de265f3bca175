"""Budgets of failed registration checks (DESIGN §6b).

- Per user, a sliding hour: the user's item keeps the times of their failures in the last hour
  (never more than the budget), so ten failures can never fit in two minutes across a clock hour.
- Per account number and user, a day: each user spends their own budget on an account, so that
  strangers guessing an account's value cannot lock its owner out (the owner's correct value still
  links while the strangers are refused).

A request reads the budgets (with whatever else it reads, in one BatchGetItem), checks only the
accounts the budgets allow, and then writes what came of the checks in one transaction: the failures
added to the user's log at the version read and to each account's count (on condition that neither
goes past its budget), together with the links the successes made. A check that succeeded spends
nothing, but its transaction still requires the log at the version read: a result is only answered
once the budget it was checked against is the current one. When anything moved meanwhile the
transaction is cancelled and the request reads again, so concurrent requests can never check more
than a budget allows, and only failures stay counted. The items carry ``ttl`` and vanish once their
window has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from avocette.store.table import serialize, serialize_value, table_name

__all__ = ["Budget", "abandoned_count", "abandoned_key", "budget_keys", "count_abandoned", "read_budget"]

HOUR = timedelta(hours=1)
_USER_PREFIX = "RATELIMIT#USER#"
_ACCOUNT_PREFIX = "RATELIMIT#ACCOUNT#"


def _user_key(sub: str) -> dict[str, Any]:
    return {"PK": {"S": f"{_USER_PREFIX}{sub}"}, "SK": {"S": "FAILURES"}}


def _account_key(account_number: str, sub: str, day: str) -> dict[str, Any]:
    return {"PK": {"S": f"{_ACCOUNT_PREFIX}{account_number}"}, "SK": {"S": f"USER#{sub}#DAY#{day}"}}


def _day(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


# ---- payment sessions left to expire (DESIGN §6a) ------------------------------------------------


def abandoned_key(sub: str, now: datetime) -> dict[str, Any]:
    """The count of the sessions ``sub`` left to expire on ``now``'s (UTC) day."""
    return {"PK": {"S": f"{_USER_PREFIX}{sub}"}, "SK": {"S": f"ABANDONED#{_day(now)}"}}


def count_abandoned(sub: str, now: datetime) -> dict[str, Any]:
    """A transaction item adding one to that count (it vanishes two days later)."""
    return {
        "Update": {
            "TableName": table_name(),
            "Key": abandoned_key(sub, now),
            "UpdateExpression": "ADD #count :one SET #ttl = :ttl",
            "ExpressionAttributeNames": {"#count": "count", "#ttl": "ttl"},
            "ExpressionAttributeValues": {
                ":one": serialize_value(1),
                ":ttl": serialize_value(int((now + timedelta(days=2)).timestamp())),
            },
        }
    }


def abandoned_count(sub: str, now: datetime, items: Iterable[Mapping[str, Any]]) -> int:
    """The count out of the items read at :func:`abandoned_key` (others among ``items`` are ignored)."""
    key = abandoned_key(sub, now)
    return next(
        (int(item.get("count", 0)) for item in items if item["PK"] == key["PK"]["S"] and item["SK"] == key["SK"]["S"]),
        0,
    )


def budget_keys(sub: str, accounts: Iterable[str], now: datetime) -> list[dict[str, Any]]:
    """The items :func:`read_budget` needs: the user's failure log and each account's count today."""
    day = _day(now)
    return [_user_key(sub), *(_account_key(account, sub, day) for account in accounts)]


@dataclass(frozen=True)
class Budget:
    """The budgets as read: the user's failures in the last hour (and the log's version, ``None``
    when there is no log yet) and this user's failures on each account today."""

    sub: str
    now: datetime
    log: tuple[int, ...]
    version: int | None
    account_failures: Mapping[str, int]

    @property
    def moment(self) -> int:
        return int(self.now.timestamp())

    def grant(self, accounts: Sequence[str], *, user_limit: int, account_limit: int) -> tuple[list[str], list[str]]:
        """(accounts that may be checked, in order; those refused): each check may fail, so no more
        are granted than the user's hour has room for, and none whose daily budget is spent."""
        room = max(0, user_limit - len(self.log))
        granted: list[str] = []
        refused: list[str] = []
        for account in accounts:
            if len(granted) < room and self.account_failures.get(account, 0) < account_limit:
                granted.append(account)
            else:
                refused.append(account)
        return granted, refused

    def writes(self, failed: Sequence[str], succeeded: Sequence[str], *, account_limit: int) -> list[dict[str, Any]]:
        """The transaction items that record the checks: the user's log (with the failures, at the
        version read; unchanged, a condition on that version), each failed account's count raised by
        one and each succeeded account's count still under its budget."""
        day = _day(self.now)
        ttl = int((self.now + timedelta(days=2)).timestamp())
        items = [self._log_item(failed)]
        for account in failed:
            items.append(
                {
                    "Update": {
                        "TableName": table_name(),
                        "Key": _account_key(account, self.sub, day),
                        "UpdateExpression": "ADD #count :one SET #ttl = :ttl",
                        "ConditionExpression": "attribute_not_exists(#count) OR #count < :limit",
                        "ExpressionAttributeNames": {"#count": "count", "#ttl": "ttl"},
                        "ExpressionAttributeValues": {
                            ":one": serialize_value(1),
                            ":ttl": serialize_value(ttl),
                            ":limit": serialize_value(account_limit),
                        },
                    }
                }
            )
        for account in succeeded:
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": table_name(),
                        "Key": _account_key(account, self.sub, day),
                        "ConditionExpression": "attribute_not_exists(#count) OR #count < :limit",
                        "ExpressionAttributeNames": {"#count": "count"},
                        "ExpressionAttributeValues": {":limit": serialize_value(account_limit)},
                    }
                }
            )
        return items

    def _log_item(self, failed: Sequence[str]) -> dict[str, Any]:
        if self.version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            condition = {
                "ConditionExpression": "version = :version",
                "ExpressionAttributeValues": {":version": serialize_value(self.version)},
            }
        if not failed:
            return {"ConditionCheck": {"TableName": table_name(), "Key": _user_key(self.sub), **condition}}
        moment = self.moment
        item = {
            **{name: value["S"] for name, value in _user_key(self.sub).items()},
            "failures": [*self.log, *([moment] * len(failed))],
            "version": (self.version or 0) + 1,
            "ttl": moment + 2 * int(HOUR.total_seconds()),
        }
        return {"Put": {"TableName": table_name(), "Item": serialize(item), **condition}}


def read_budget(sub: str, accounts: Iterable[str], now: datetime, items: Iterable[Mapping[str, Any]]) -> Budget:
    """The budgets out of the items read at :func:`budget_keys` (others among ``items`` are ignored)."""
    moment = int(now.timestamp())
    user_pk = f"{_USER_PREFIX}{sub}"
    wanted = {_account_key(account, sub, _day(now))["PK"]["S"]: account for account in accounts}
    account_sk = f"USER#{sub}#DAY#{_day(now)}"
    log: list[int] = []
    version: int | None = None
    failures: dict[str, int] = {}
    for item in items:
        if item["PK"] == user_pk and item["SK"] == "FAILURES":
            log = [int(at) for at in item.get("failures", []) if int(at) > moment - int(HOUR.total_seconds())]
            version = int(item["version"])
        elif item["PK"] in wanted and item["SK"] == account_sk:
            failures[wanted[item["PK"]]] = int(item.get("count", 0))
    return Budget(sub=sub, now=now, log=tuple(log), version=version, account_failures=failures)
