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

import ipaddress
import os
import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from avocette.errors import ConfigurationError
from avocette.settings.base import CommaSeparated, EnvSettings, required_variable, secret_json

__all__ = [
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
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class RefreshSettings(EnvSettings):
    """How Invoice Cloud's balance refresh is authenticated and answered (DESIGN §3, §4a)."""

    ic_refresh_auth: RefreshAuth = Field("basic", alias="IC_REFRESH_AUTH")
    ic_refresh_header: str = Field("X-Api-Key", alias="IC_REFRESH_HEADER")
    ic_refresh_format: str = Field("invoicecloud-refresh-v1", alias="IC_REFRESH_FORMAT", min_length=1)
    ic_refresh_source_cidrs: CommaSeparated = Field((), alias="IC_REFRESH_SOURCE_CIDRS")
    ic_refresh_max_skew_seconds: int = Field(300, alias="IC_REFRESH_MAX_SKEW_SECONDS", ge=30, le=3600)

    @field_validator("ic_refresh_header")
    @classmethod
    def _header_is_a_name(cls, name: str) -> str:
        if not _HEADER_NAME.match(name) or name.lower() in ("authorization", "host", "cookie"):
            raise ValueError("must be a header name of letters, digits and hyphens, not a standard one")
        return name

    @field_validator("ic_refresh_source_cidrs")
    @classmethod
    def _cidrs_parse(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            ipaddress.ip_network(cidr, strict=False)
        return cidrs

    def source_allowed(self, source_ip: str | None) -> bool:
        """True when no CIDRs are configured, or the source address lies in one of them."""
        if not self.ic_refresh_source_cidrs:
            return True
        if not source_ip:
            return False
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in self.ic_refresh_source_cidrs)


@lru_cache(maxsize=1)
def get_refresh_settings() -> RefreshSettings:
    return RefreshSettings.from_environment(os.environ)


class RefreshCredential(BaseModel):
    """``IC_REFRESH_SECRET_ARN``: ``{"username", "secret", "previousSecret"?}``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    username: str = Field(min_length=1, max_length=128)
    secret: SecretStr
    previous_secret: SecretStr | None = Field(None, alias="previousSecret")

    @field_validator("secret", "previous_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"a refresh secret has at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:  # HTTP Basic splits at the first colon
            raise ValueError("the username cannot hold a colon")
        return value

    def secrets(self) -> tuple[bytes, ...]:
        """Each accepted secret: the current one, and the previous one while a rotation runs."""
        values = [self.secret] + ([self.previous_secret] if self.previous_secret else [])
        return tuple(value.get_secret_value().encode() for value in values)


def get_refresh_credential() -> RefreshCredential:
    value = secret_json(required_variable("IC_REFRESH_SECRET_ARN"), "balance refresh")
    try:
        return RefreshCredential.model_validate(value)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]}))
        raise ConfigurationError(f"the balance refresh secret is malformed ({fields})") from None
