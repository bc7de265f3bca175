"""The simulator's configuration: defaults, the rule each key's value must follow, and the control API's error.

Every key has a default (``POST /_sim/reset`` puts them all back) and a rule checked on
``POST /_sim/config``, so that a test misspelling a key or sending ``"true"`` for ``true`` fails at
once instead of testing the default by accident.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["DEFAULT_CONFIG", "FAULTS", "ControlError", "default_config", "validate_config_update"]

DEFAULT_CONFIG: Final[Mapping[str, Any]] = {
    "postbackMode": "single",
    "feeInAmount": False,
    "guidPerAttempt": True,
    "invoiceNumberWhenSeveral": "blank",
    "amountFormat": "plain",
    # PaymentTypeID per payment method, and the CardType of an ACH payment: Invoice Cloud may put the
    # bank account type there, so an ACH postback with a non-empty CardType is plausible.
    "paymentTypeIds": {"CARD": "1", "ACH": "2"},
    "achCardType": "Checking",
    "postbackDelaySeconds": 0,
    "duplicatePostbacks": 0,
    "reorderPostbacks": False,
    "dropPostbacks": False,
    "postbackRetries": 3,
    "postbackRetryDelaySeconds": 1.0,
    "sessionMinutes": 30,
    # true: an expired session can still be paid (its page left open in a browser tab)
    "payExpiredSessions": False,
    # false: a part payment below an invoice's MinimumAmountDue is accepted
    "enforceMinimumAmount": True,
    # What GET /api/v1/biller/status answers (as text); e.g. "Inactive" for a biller switched off.
    "billerStatus": "Active",
    "apiFault": None,
    "apiFaultCount": None,
    "apiDelaySeconds": 0,
    "apiTimeoutSeconds": 15,
    "customerApiFault": None,
    "customerApiFaultCount": None,
    "customerApiDelaySeconds": 0,
    "customerApiTimeoutSeconds": 15,
    # Invoice Cloud's public limits of the balance refresh: no new pull of an account within this many
    # hours of a successful one; no refresh of an invoice paid at Invoice Cloud within this many hours.
    "refreshIntervalHours": 4,
    "refreshPaidHoldHours": 24,
    # true: Invoice Cloud calls the balance refresh with a credential the biller no longer accepts.
    "refreshWrongCredential": False,
    # The CPV2 invoice field that may carry a link to the bill (IC_STATEMENT_LINK_FIELD, DESIGN §6g):
    # accepted (an http(s) URL) and shown on the invoice page; null refuses it as an unknown field.
    "statementLinkField": "StatementURL",
}

FAULTS: Final = ("500", "502", "503", "504", "timeout", "malformed", "reject")


@dataclass(frozen=True)
class _Rule:
    accepts: Callable[[Any], bool]
    expected: str


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(*choices: str) -> _Rule:
    return _Rule(lambda value: isinstance(value, str) and value in choices, "one of " + ", ".join(choices))


def _nullable(rule: _Rule) -> _Rule:
    return _Rule(lambda value: value is None or rule.accepts(value), f"{rule.expected}, or null")


_BOOLEAN: Final = _Rule(lambda value: isinstance(value, bool), "true or false")
_COUNT: Final = _Rule(lambda value: _is_integer(value) and value >= 0, "an integer >= 0")
_POSITIVE_COUNT: Final = _Rule(lambda value: _is_integer(value) and value >= 1, "an integer >= 1")
_SECONDS: Final = _Rule(lambda value: _is_number(value) and value >= 0, "a number >= 0")
_STRING: Final = _Rule(lambda value: isinstance(value, str), "a string")
_PAYMENT_TYPE_IDS: Final = _Rule(
    lambda value: (
        isinstance(value, dict)
        and set(value) == {"CARD", "ACH"}
        and all(isinstance(item, str) for item in value.values())
    ),
    'an object with a string for each of "CARD" and "ACH"',
)

_CONFIG_RULES: Final[Mapping[str, _Rule]] = {
    "postbackMode": _one_of("single", "perInvoice", "perAccount"),
    "feeInAmount": _BOOLEAN,
    "guidPerAttempt": _BOOLEAN,
    "invoiceNumberWhenSeveral": _one_of("blank", "first", "firstRequested"),
    "amountFormat": _one_of("plain", "dollar", "integer"),
    "paymentTypeIds": _PAYMENT_TYPE_IDS,
    "achCardType": _STRING,
    "postbackDelaySeconds": _SECONDS,
    "duplicatePostbacks": _COUNT,
    "reorderPostbacks": _BOOLEAN,
    "dropPostbacks": _BOOLEAN,
    "postbackRetries": _COUNT,
    "postbackRetryDelaySeconds": _SECONDS,
    "sessionMinutes": _SECONDS,
    "payExpiredSessions": _BOOLEAN,
    "enforceMinimumAmount": _BOOLEAN,
    "billerStatus": _STRING,
    "apiFault": _nullable(_one_of(*FAULTS)),
    "apiFaultCount": _nullable(_POSITIVE_COUNT),
    "apiDelaySeconds": _SECONDS,
    "apiTimeoutSeconds": _SECONDS,
    "customerApiFault": _nullable(_one_of(*FAULTS)),
    "customerApiFaultCount": _nullable(_POSITIVE_COUNT),
    "customerApiDelaySeconds": _SECONDS,
    "customerApiTimeoutSeconds": _SECONDS,
    "refreshIntervalHours": _SECONDS,
    "refreshPaidHoldHours": _SECONDS,
    "refreshWrongCredential": _BOOLEAN,
    "statementLinkField": _nullable(
        _Rule(lambda value: isinstance(value, str) and value.isidentifier() and len(value) <= 64, "a field name")
    ),
}


class ControlError(Exception):
    """A control API request the simulator refuses; carries the HTTP status to answer with."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def validate_config_update(update: Any) -> dict[str, Any]:
    """Check a ``POST /_sim/config`` body: known keys only, each with the type its default has."""
    if not isinstance(update, dict):
        raise ControlError(400, "invalid_config", "The config must be a JSON object")
    for key, value in update.items():
        rule = _CONFIG_RULES.get(key)
        if rule is None:
            raise ControlError(400, "invalid_config", f"Unknown config key {key}")
        if not rule.accepts(value):
            raise ControlError(400, "invalid_config", f"{key} must be {rule.expected}")
    # A copy all the way down: the caller's objects must not change the config later.
    return copy.deepcopy(update)


def default_config() -> dict[str, Any]:
    """A fresh copy of the defaults (``DEFAULT_CONFIG`` holds an object, which must not be shared)."""
    return copy.deepcopy(dict(DEFAULT_CONFIG))
