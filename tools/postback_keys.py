"""The postback key ring in Secrets Manager: ``{"current": "2", "keys": {"1": "...", "2": "..."}}``.

``rotate`` adds a fresh key and makes it current (the first run creates the ring); ``retire`` removes
an old key. Keep a retired key's predecessor at least 90 days: a postback URL made with a key verifies
only while that key stays in the ring (DESIGN §7).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3
from avocette.security import KeyRing

__all__ = ["retire", "rotate"]


def _read(client: Any, secret_id: str) -> dict[str, Any]:
    value = json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"] or "{}")
    keys = value.get("keys") or {}
    return {"current": str(value.get("current") or ""), "keys": dict(keys)}


def _write(client: Any, secret_id: str, ring: dict[str, Any]) -> None:
    KeyRing.from_secret(ring)  # never store a ring the functions would refuse
    client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(ring))


def rotate(secret_id: str) -> str:
    """Add a new key and make it current; answers its id (never the key)."""
    client = boto3.client("secretsmanager")
    ring = _read(client, secret_id)
    new_id = str(max((int(key_id) for key_id in ring["keys"] if key_id.isdigit()), default=0) + 1)
    ring["keys"][new_id] = secrets.token_urlsafe(32)
    ring["current"] = new_id
    _write(client, secret_id, ring)
    return new_id


def retire(secret_id: str, key_id: str) -> None:
    """Remove an old key; the current key cannot be retired."""
    client = boto3.client("secretsmanager")
    ring = _read(client, secret_id)
    if key_id == ring["current"]:
        raise ValueError("the current key cannot be retired; rotate first")
    if key_id not in ring["keys"]:
        raise ValueError(f"no key {key_id} in the ring")
    del ring["keys"][key_id]
    _write(client, secret_id, ring)
