"""What the settings groups share: reading a group from the environment (an error names the
variables, never a value), reading a secret, a secret's text that never prints, and the parsers of
the groups' fields.

A group is a frozen dataclass deriving from :class:`EnvSettings`; each field names its environment
variable and how its text is read (:func:`variable`: a parser takes the text and answers the value,
or raises ``ValueError``). Plain code on purpose: every function reads settings on its first request,
and these few parsers cost nothing to define, where a validation library costs its import on every
cold start (docs/performance.md).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from typing import Any, Literal, Self, cast

import boto3
from aws_lambda_powertools.utilities import parameters

from avocette import money
from avocette.errors import ConfigurationError

__all__ = [
    "SECRET_MAX_AGE_SECONDS",
    "EnvSettings",
    "SecretText",
    "boolean",
    "choice",
    "cidrs",
    "comma_separated",
    "fee_cents",
    "get_secret",
    "integer",
    "number",
    "optional_text",
    "payment_type_ids",
    "required_variable",
    "secret_json",
    "source_allowed",
    "text",
    "variable",
]


SECRET_MAX_AGE_SECONDS = 300

Parser = Callable[[str], Any]


def variable(
    name: str,
    parse: Parser = str,
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
    repr: bool = True,
) -> Any:
    """A field read from the environment variable ``name`` by ``parse``; without a default, required."""
    return field(
        default=default, default_factory=default_factory, repr=repr, metadata={"variable": name, "parse": parse}
    )


class EnvSettings:
    """A settings group: a frozen dataclass whose fields are :func:`variable`\\ s."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Self:
        """The group read from ``environ``; every missing or unreadable variable is named at once."""
        values: dict[str, Any] = {}
        problems: set[str] = set()
        for spec in fields(cls):  # type: ignore[arg-type]  # every group is a dataclass
            name = spec.metadata["variable"]
            raw = environ.get(name)
            if raw is None:
                if spec.default is MISSING and spec.default_factory is MISSING:
                    problems.add(name)
                continue
            try:
                values[spec.name] = spec.metadata["parse"](raw)
            except (ValueError, TypeError):
                problems.add(name)
        if problems:
            raise ConfigurationError(f"invalid or missing settings: {', '.join(sorted(problems))}")
        return cls(**values)


@dataclass(frozen=True)
class SecretText:
    """A secret's text: never in a repr, a str() or a log line; read with :meth:`get_secret_value`."""

    _value: str = field(repr=False)

    def get_secret_value(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "**********"


# ---- parsers: the text of a variable in, its value out (``ValueError`` for a bad one) ----------


def text(*, min_length: int = 0, pattern: str | None = None) -> Parser:
    compiled = re.compile(pattern) if pattern else None

    def parse(raw: str) -> str:
        if len(raw) < min_length or (compiled is not None and not compiled.search(raw)):
            raise ValueError("not an accepted text")
        return raw

    return parse


def optional_text(raw: str) -> str | None:
    """Blank is ``None``."""
    return raw if raw.strip() else None


def integer(*, ge: int | None = None, le: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        value = int(raw)
        if (ge is not None and value < ge) or (le is not None and value > le):
            raise ValueError("out of range")
        return value

    return parse


def number(*, gt: float | None = None) -> Parser:
    def parse(raw: str) -> float:
        value = float(raw)
        if math.isnan(value) or (gt is not None and not value > gt):
            raise ValueError("out of range")
        return value

    return parse


def cidrs(raw: str) -> tuple[str, ...]:
    """Comma-separated networks (``10.0.0.0/8, 2001:db8::/32``), each checked."""
    networks = comma_separated(raw)
    for network in networks:
        ipaddress.ip_network(network, strict=False)
    return networks


def source_allowed(networks: tuple[str, ...], source_ip: str | None) -> bool:
    """True when no networks are configured, or the source address lies in one of them."""
    if not networks:
        return True
    if not source_ip:
        return False
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def boolean(raw: str) -> bool:
    """true/false, yes/no, on/off, 1/0, t/f, y/n, in any case."""
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("not a boolean")


def choice(*allowed: str) -> Parser:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError("not one of the choices")
        return raw

    return parse


def comma_separated(raw: str) -> tuple[str, ...]:
    """``a, b,,c`` -> ("a", "b", "c")."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def fee_cents(raw: str) -> int:
    """A fee as text ("1.00"), in cents, never negative."""
    cents = money.parse_cents(raw)
    if cents < 0:
        raise ValueError("a fee is never negative")
    return cents


# IC_PAYMENT_TYPE_IDS: Invoice Cloud's PaymentTypeID values and the method each means (DESIGN §4a).
_PAYMENT_METHODS = frozenset({"CARD", "ACH"})


def payment_type_ids(raw: str) -> dict[str, Literal["CARD", "ACH"]]:
    """A JSON object of PaymentTypeID -> CARD or ACH; blank is none."""
    value = json.loads(raw) if raw.strip() else {}
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and method in _PAYMENT_METHODS for key, method in value.items()
    ):
        raise ValueError("must be a JSON object of CARD or ACH")
    return cast(dict[str, Literal["CARD", "ACH"]], value)


# ---- variables and secrets read alone --------------------------------------------------------


def required_variable(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"invalid or missing settings: {name}")
    return value


@lru_cache(maxsize=1)
def _secrets_provider() -> parameters.SecretsProvider:
    """Powertools' secrets provider (its cache: ``max_age``), its client on boto3's default session.
    Powertools' own default provider makes a session of its own, whose botocore loads again every
    file the store's clients already loaded (endpoints, partitions, retry and default configuration):
    tens of milliseconds of a cold request."""
    return parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))


def get_secret(arn: str, *, transform: str | None = None) -> Any:
    """The secret's value (cached for :data:`SECRET_MAX_AGE_SECONDS`)."""
    return _secrets_provider().get(arn, max_age=SECRET_MAX_AGE_SECONDS, transform=transform)  # type: ignore[arg-type]


def secret_json(arn: str, what: str) -> dict[str, Any]:
    try:
        value = get_secret(arn, transform="json")
    except parameters.exceptions.TransformParameterError:
        raise ConfigurationError(f"the {what} secret is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"the {what} secret is not a JSON object")
    return value
