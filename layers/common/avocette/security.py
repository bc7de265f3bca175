"""Postback tokens and signed links from a key ring, keyed hashes (account numbers' for logs among
them), constant-time comparison, and the checks of Invoice Cloud's balance refresh credential.

A postback token is ``v{keyId}.{base64url(HMAC-SHA256(key, "postback|" + paymentId))}`` (DESIGN §3).
A signed link's token (statement links, DESIGN §6g) carries its payload:
``v{keyId}.{payload}.{base64url(HMAC-SHA256(key, purpose + "|" + payload))}``, the purpose keeping a
token made for one use from being accepted for another. Tokens are made with the ring's current key
and verified against whichever key they name, so tokens made before a rotation still verify while
their key stays in the ring.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KeyRing",
    "account_hash",
    "basic_credential_matches",
    "constant_time_equal",
    "keyed_hash",
    "refresh_key_matches",
    "refresh_signature",
    "refresh_signature_matches",
]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def constant_time_equal(left: str | bytes, right: str | bytes) -> bool:
    left_bytes = left.encode() if isinstance(left, str) else left
    right_bytes = right.encode() if isinstance(right, str) else right
    return hmac.compare_digest(left_bytes, right_bytes)


def keyed_hash(key: bytes, value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, separated by ``purpose``; hex text."""
    return hmac.new(key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def account_hash(key: bytes, account_number: str) -> str:
    """How logs name an account (docs/security.md): 16 hex digits of its keyed hash under ``key``, the
    registration hash key. Keyed, because account numbers are few enough that a plain hash is undone
    by hashing them all."""
    return keyed_hash(key, account_number, purpose="log-account")[:16]


@dataclass(frozen=True)
class KeyRing:
    """The postback key ring: ``{"current": "2", "keys": {"1": "...", "2": "..."}}``."""

    current: str
    keys: Mapping[str, bytes] = field(repr=False)

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any]) -> KeyRing:
        current = str(secret.get("current", ""))
        raw_keys = secret.get("keys")
        if not isinstance(raw_keys, Mapping) or not raw_keys:
            raise ValueError("no keys")
        keys: dict[str, bytes] = {}
        for key_id, key in raw_keys.items():
            if not str(key_id).isalnum():
                raise ValueError("key ids must be alphanumeric")
            if not isinstance(key, str) or len(key) < 16:
                raise ValueError("every key must be text of at least 16 characters")
            keys[str(key_id)] = key.encode()
        if current not in keys:
            raise ValueError("the current key id is not in the ring")
        return cls(current=current, keys=keys)

    def _mac(self, key_id: str, message: str) -> str:
        return _b64url(hmac.new(self.keys[key_id], message.encode(), hashlib.sha256).digest())

    def postback_token(self, payment_id: str) -> str:
        return f"v{self.current}.{self._mac(self.current, 'postback|' + payment_id)}"

    def verify_postback_token(self, payment_id: str, token: str | None) -> bool:
        if not token or not token.startswith("v") or "." not in token:
            return False
        key_id, _, mac = token[1:].partition(".")
        if key_id not in self.keys:
            return False
        return constant_time_equal(self._mac(key_id, "postback|" + payment_id), mac)

    def signed_token(self, purpose: str, payload: str) -> str:
        """``v{keyId}.{payload}.{mac}`` under the current key; ``payload`` must hold no dot (base64url)."""
        if not payload or "." in payload or "|" in purpose:
            raise ValueError("a signed payload is non-empty text without dots")
        return f"v{self.current}.{payload}.{self._mac(self.current, f'{purpose}|{payload}')}"

    def signed_payload(self, purpose: str, token: str | None) -> str | None:
        """The payload of a token :meth:`signed_token` made for ``purpose`` with a key still in the
        ring, or ``None``. The signature is checked, in constant time, before the payload is read."""
        if not token or not token.startswith("v") or token.count(".") != 2:
            return None
        key_id, payload, mac = token[1:].split(".")
        if key_id not in self.keys or not payload:
            return None
        if not constant_time_equal(self._mac(key_id, f"{purpose}|{payload}"), mac):
            return None
        return payload


# ---- Invoice Cloud's balance refresh (DESIGN §3; the schemes are described in avocette.settings.refresh) ----


def _same_secret(given: bytes, expected: bytes) -> bool:
    """Constant time, and blind to length too: the digests of both are compared, never the values."""
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())


def _any_secret(given: bytes, secrets: Sequence[bytes]) -> bool:
    """Whether ``given`` is one of ``secrets``, every one compared (no early answer)."""
    matches = [_same_secret(given, secret) for secret in secrets]
    return any(matches)


def basic_credential_matches(authorization: str | None, username: str, secrets: Sequence[bytes]) -> bool:
    """``Authorization: Basic base64(username:secret)`` with our username and one of ``secrets``.
    The username and the secret are both compared, whatever the first answers."""
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip() or len(encoded) > 1024:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, colon, given_secret = decoded.partition(b":")
    user_ok = _same_secret(given_user, username.encode())
    secret_ok = _any_secret(given_secret, secrets)
    return bool(colon) and user_ok and secret_ok


def refresh_key_matches(value: str | None, secrets: Sequence[bytes]) -> bool:
    """The ``header`` scheme: the header's value is one of ``secrets``."""
    if not value or len(value) > 1024:
        return False
    return _any_secret(value.strip().encode("utf-8", errors="surrogateescape"), secrets)


def refresh_signature(secret: bytes, account_number: str, timestamp: str, nonce: str) -> str:
    """The ``hmac`` scheme's signature: base64url(HMAC-SHA256(secret, "invoicecloud-refresh\n" + account
    + "\n" + timestamp + "\n" + nonce)), without padding. The account is the path's, decoded."""
    message = "\n".join(("invoicecloud-refresh", account_number, timestamp, nonce)).encode("utf-8", "surrogatepass")
    return _b64url(hmac.new(secret, message, hashlib.sha256).digest())


def refresh_signature_matches(
    signature: str | None, secrets: Sequence[bytes], *, account_number: str, timestamp: str, nonce: str
) -> bool:
    """Whether ``signature`` signs this account, timestamp and nonce under one of ``secrets``."""
    if not signature or len(signature) > 128:
        return False
    given = signature.strip().encode("utf-8", errors="surrogateescape")
    expected = [refresh_signature(secret, account_number, timestamp, nonce).encode() for secret in secrets]
    matches = [hmac.compare_digest(given, candidate) for candidate in expected]
    return any(matches)
