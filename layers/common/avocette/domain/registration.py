"""Registration (DESIGN §6b): proving an account with its registration value."""

from __future__ import annotations

import unicodedata

from avocette.security import constant_time_equal, keyed_hash

__all__ = [
    "MAX_ACCOUNTS_PER_REGISTRATION",
    "matches",
    "normalise_registration_value",
    "registration_hash",
]

MAX_ACCOUNTS_PER_REGISTRATION = 20
_PURPOSE = "registration"
_DROPPED = {" ", "-", "\u00a0", "\t"}


def normalise_registration_value(value: str) -> str:
    """NFKC, trimmed, upper-case, without spaces and dashes: ``" 3001-reg "`` and ``"3001REG"`` match."""
    folded = unicodedata.normalize("NFKC", value).strip().upper()
    return "".join(character for character in folded if character not in _DROPPED and not character.isspace())


def registration_hash(key: bytes, value: str) -> str:
    """The keyed hash stored on the account (never the value itself)."""
    return keyed_hash(key, normalise_registration_value(value), purpose=_PURPOSE)


# Compared against when the account is unknown, so that an unknown account takes as long as a wrong value.
_NO_ACCOUNT_HASH = "0" * 64


def matches(key: bytes, offered: str, stored_hash: str | None) -> bool:
    """Constant-time proof: the offered value's hash against the stored one (or a stand-in)."""
    offered_hash = registration_hash(key, offered)
    equal = constant_time_equal(offered_hash, stored_hash or _NO_ACCOUNT_HASH)
    return equal and bool(stored_hash)
