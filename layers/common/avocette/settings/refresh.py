"""Invoice Cloud's balance refresh (DESIGN §3, §4a): how its calls are authenticated, from where they may
come, the format of the answer; and the credential (``IC_REFRESH_SECRET_ARN``).

Invoice Cloud's authentication is not public, so the scheme is a setting (``IC_REFRESH_AUTH``):

- ``basic`` (the default): ``Authorization: Basic base64(username:secret)``, HTTP Basic over TLS;
- ``header``: the secret alone in the header named by ``IC_REFRESH_HEADER`` (``X-Api-Key``);
- ``hmac``: nothing secret on the wire; ``X-IC-Timestamp`` (epoch seconds), ``X-IC-Nonce`` and
  ``X-IC-Signature`` (base64url HMAC-SHA256 of the account, the timestamp and the nonce under the
  secret). A timestamp more than ``IC_REFRESH_MAX_SKEW_SECONDS`` away, or a nonce seen before, is
  refused: a captured request cannot be replayed.

The stack generates the secret (random, 48 characters), so that the endpoint refuses everyone until
ops give the credential to Invoice Cloud; ``previousSecret``, while set, is accepted too (a rotation
without a refused refresh).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from avocette.errors import ConfigurationError
from avocette.settings.base import (
    EnvSettings,
    SecretText,
    choice,
    cidrs,
    integer,
    required_variable,
    secret_json,
    source_allowed,
    text,
    variable,
)

__all__ = [
    "DEFAULT_REFRESH_FORMAT",
    "MIN_SECRET_LENGTH",
    "RefreshAuth",
    "RefreshCredential",
    "RefreshSettings",
    "get_refresh_credential",
    "get_refresh_settings",
]

RefreshAuth = Literal["basic", "header", "hmac"]
# A credential shorter than this is a deployment mistake (the stack generates 48 characters).
MIN_SECRET_LENGTH = 24
DEFAULT_REFRESH_FORMAT = "invoicecloud-refresh-v1"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name) or name.lower() in ("authorization", "host", "cookie"):
        raise ValueError("must be a header name of letters, digits and hyphens, not a standard one")
    return name


@dataclass(frozen=True)
class RefreshSettings(EnvSettings):
    """How Invoice Cloud's balance refresh is authenticated and answered (DESIGN §3, §4a)."""

    ic_refresh_auth: RefreshAuth = variable("IC_REFRESH_AUTH", choice("basic", "header", "hmac"), "basic")
    ic_refresh_header: str = variable("IC_REFRESH_HEADER", _header_name, "X-Api-Key")
    ic_refresh_format: str = variable("IC_REFRESH_FORMAT", text(min_length=1), DEFAULT_REFRESH_FORMAT)
    ic_refresh_source_cidrs: tuple[str, ...] = variable("IC_REFRESH_SOURCE_CIDRS", cidrs, ())
    ic_refresh_max_skew_seconds: int = variable("IC_REFRESH_MAX_SKEW_SECONDS", integer(ge=30, le=3600), 300)

    def source_allowed(self, source_ip: str | None) -> bool:
        """True when no CIDRs are configured, or the source address lies in one of them."""
        return source_allowed(self.ic_refresh_source_cidrs, source_ip)


@lru_cache(maxsize=1)
def get_refresh_settings() -> RefreshSettings:
    return RefreshSettings.from_environment(os.environ)


def _secret(value: Any, field: str) -> SecretText:
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"{field}: a refresh secret has at least {MIN_SECRET_LENGTH} characters")
    return SecretText(value)


@dataclass(frozen=True)
class RefreshCredential:
    """``IC_REFRESH_SECRET_ARN``: ``{"username", "secret", "previousSecret"?}``."""

    username: str
    secret: SecretText
    previous_secret: SecretText | None = None

    @classmethod
    def from_secret(cls, value: Mapping[str, Any]) -> RefreshCredential:
        """The credential from the secret's JSON; ``ValueError`` naming the bad fields (never a value)."""
        problems: list[str] = []
        username = value.get("username")
        # HTTP Basic splits at the first colon: a username cannot hold one.
        if not isinstance(username, str) or not 1 <= len(username) <= 128 or ":" in username:
            problems.append("username")
        secret: SecretText | None = None
        previous: SecretText | None = None
        try:
            secret = _secret(value.get("secret"), "secret")
        except ValueError:
            problems.append("secret")
        if value.get("previousSecret") is not None:
            try:
                previous = _secret(value.get("previousSecret"), "previousSecret")
            except ValueError:
                problems.append("previousSecret")
        if problems or secret is None or not isinstance(username, str):
            raise ValueError(", ".join(sorted(problems)))
        return cls(username=username, secret=secret, previous_secret=previous)

    def secrets(self) -> tuple[bytes, ...]:
        """Each accepted secret: the current one, and the previous one while a rotation runs."""
        values = [self.secret] + ([self.previous_secret] if self.previous_secret else [])
        return tuple(value.get_secret_value().encode() for value in values)


def get_refresh_credential() -> RefreshCredential:
    value = secret_json(required_variable("IC_REFRESH_SECRET_ARN"), "balance refresh")
    try:
        return RefreshCredential.from_secret(value)
    except ValueError as exc:
        raise ConfigurationError(f"the balance refresh secret is malformed ({exc})") from None
