"""The postback key ring (``POSTBACK_KEYS_ARN``, DESIGN §7): the tokens in PostBackURLs."""

from __future__ import annotations

from avocette.errors import ConfigurationError
from avocette.security import KeyRing
from avocette.settings.base import required_variable, secret_json

__all__ = ["get_postback_key_ring"]


def get_postback_key_ring() -> KeyRing:
    value = secret_json(required_variable("POSTBACK_KEYS_ARN"), "postback key ring")
    try:
        return KeyRing.from_secret(value)
    except ValueError as exc:
        raise ConfigurationError(f"the postback key ring is malformed: {exc}") from None
