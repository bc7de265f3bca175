"""The DynamoDB client, item (de)serialization and the mapping of AWS faults to typed errors.

Numbers in the store are integers (cents, versions, epoch seconds): a float or a Decimal reaching
:func:`serialize` is a bug and raises before anything is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from avocette.errors import StoreUnavailableError
from avocette.settings.resources import get_table_name

__all__ = [
    "StoreUnavailableError",
    "TransactionRaceError",
    "cancellation_codes",
    "deserialize",
    "dynamodb",
    "error_code",
    "query_items",
    "serialize",
    "serialize_value",
    "store_errors",
    "table_name",
    "transact",
]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Codes that mean "try again later", after botocore's own retries have been spent.
_TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    """One client per process, made on first use (never at import time)."""
    return boto3.client(
        "dynamodb",
        config=Config(
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=2,
            read_timeout=5,
            max_pool_connections=32,
        ),
    )


def table_name() -> str:
    return get_table_name()


def _check_numbers(value: Any, path: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, float | Decimal):
        raise TypeError(f"{path}: the store holds integers only (cents), not {type(value).__name__}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_numbers(item, f"{path}.{key}")
    elif isinstance(value, list | tuple | set | frozenset):
        for position, item in enumerate(value):
            _check_numbers(item, f"{path}[{position}]")


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict as DynamoDB attribute values; ``None`` attributes are left out."""
    _check_numbers(item, "item")
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def serialize_value(value: Any) -> dict[str, Any]:
    _check_numbers(value, "value")
    return cast(dict[str, Any], _serializer.serialize(value))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def deserialize(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in raw.items()}


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Turn DynamoDB's transient faults into :class:`StoreUnavailableError`; others pass through."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _TRANSIENT:
            raise StoreUnavailableError("DynamoDB is unavailable") from exc
        raise
    except BotoCoreError as exc:
        raise StoreUnavailableError("DynamoDB could not be reached") from exc


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def cancellation_codes(exc: ClientError) -> list[str]:
    """The per-item codes of a cancelled transaction ("None" for items that were fine)."""
    reasons = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def query_items(**request: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query matches, page after page, deserialized."""
    client = dynamodb()
    while True:
        with store_errors():
            answer = client.query(**request)
        for raw in answer.get("Items", []):
            yield deserialize(raw)
        if "LastEvaluatedKey" not in answer:
            return
        request = {**request, "ExclusiveStartKey": answer["LastEvaluatedKey"]}


class TransactionRaceError(Exception):
    """Another writer got there first. ``reasons`` are the per-item cancellation codes, one per item
    of the transaction ("None" for items that were fine); ``old_items`` the items as they were, for
    those that asked ``ReturnValuesOnConditionCheckFailure: ALL_OLD`` and failed their condition."""

    def __init__(self, reasons: Sequence[str], old_items: Sequence[dict[str, Any] | None] = ()) -> None:
        super().__init__("transaction cancelled: " + ", ".join(reasons))
        self.reasons = list(reasons)
        self.old_items = list(old_items)

    def reasons_for(self, count: int) -> list[str]:
        """The reasons padded to ``count`` items (a conflict names no item)."""
        return self.reasons + ["None"] * (count - len(self.reasons))

    def old_item(self, position: int) -> dict[str, Any] | None:
        return self.old_items[position] if position < len(self.old_items) else None

    @property
    def conflict(self) -> bool:
        """Another transaction was writing the same items: nothing failed a condition."""
        return "TransactionConflict" in self.reasons and "ConditionalCheckFailed" not in self.reasons


def transact(items: list[dict[str, Any]]) -> None:
    """TransactWriteItems; a cancelled transaction raises :class:`TransactionRaceError` with its reasons."""
    try:
        with store_errors():
            dynamodb().transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            reasons = exc.response.get("CancellationReasons") or []
            old = [deserialize(reason["Item"]) if reason.get("Item") else None for reason in reasons]
            raise TransactionRaceError(cancellation_codes(exc), old) from None
        if error_code(exc) == "TransactionConflictException":
            raise TransactionRaceError(["TransactionConflict"]) from None
        raise
