"""Bill presentment (DESIGN §6g): where the bills' PDFs are, and the signed statement links that
Invoice Cloud may be given in the CPV2 request (``IC_STATEMENT_LINKS``, off by default) with the key
ring that signs them (``STATEMENT_LINK_KEYS_ARN``).

Whether Invoice Cloud links to a biller's PDFs, and in which field of the CPV2 request, is not public
(DESIGN §4a): the field's name is a setting, and so is how long a link lives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from avocette.errors import ConfigurationError
from avocette.security import KeyRing
from avocette.settings.base import EnvSettings, boolean, integer, required_variable, secret_json, text, variable

__all__ = [
    "StatementLinkSettings",
    "get_statement_link_key_ring",
    "get_statement_link_settings",
    "get_statements_bucket",
]


def get_statements_bucket() -> str:
    """``STATEMENTS_BUCKET_NAME``: the inbound bucket, whose ``statements/`` holds the bills' PDFs."""
    return required_variable("STATEMENTS_BUCKET_NAME")


@dataclass(frozen=True)
class StatementLinkSettings(EnvSettings):
    """Signed statement links for Invoice Cloud (DESIGN §6g): whether to send them, in which field of
    a CPV2 invoice, and how long one works."""

    ic_statement_links: bool = variable("IC_STATEMENT_LINKS", boolean, False)
    # The CPV2 invoice field that carries the link: an assumption until Invoice Cloud says (§4a). A
    # name the CPV2 invoice already has is refused when a request is built (the CPV2 model knows them).
    ic_statement_link_field: str = variable(
        "IC_STATEMENT_LINK_FIELD", text(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$"), "StatementURL"
    )
    # Long enough for a payment session and its grace (30 + 15 minutes by default), where Invoice
    # Cloud's pages show the bill; a week at most, as the link is a bearer credential to payer data.
    ic_statement_link_minutes: int = variable("IC_STATEMENT_LINK_MINUTES", integer(ge=5, le=7 * 24 * 60), 60)


@lru_cache(maxsize=1)
def get_statement_link_settings() -> StatementLinkSettings:
    return StatementLinkSettings.from_environment(os.environ)


def get_statement_link_key_ring() -> KeyRing:
    """The key ring that signs statement links (``STATEMENT_LINK_KEYS_ARN``), the postback ring's
    format: ``python -m tools postback-keys rotate --secret-id <its ARN>`` makes and rotates it."""
    value = secret_json(required_variable("STATEMENT_LINK_KEYS_ARN"), "statement link key ring")
    try:
        return KeyRing.from_secret(value)
    except ValueError as exc:
        raise ConfigurationError(f"the statement link key ring is malformed: {exc}") from None
