"""Postback tokens and signed links from a key ring, keyed hashes (account numbers' for logs among
them) and constant-time comparison.

A postback token is ``v{keyId}.{base64url(HMAC-SHA256(key, "postback|" + paymentId))}`` (DESIGN §3).
A signed link's token (statement links, DESIGN §6g) carries its payload:
``v{keyId}.{payload}.{base64url(HMAC-SHA256(key, purpose + "|" + payload))}``, the purpose keeping a
token made for one use from being accepted for another. Tokens are made with the ring's current key
and verified against whichever key they name, so tokens made before a rotation still verify while
their key stays in the ring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KeyRing", "account_hash", "constant_time_equal", "keyed_hash"]


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
