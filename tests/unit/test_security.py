"""Postback tokens from the key ring, keyed hashes and signed blobs."""

from __future__ import annotations

import pytest
from avocette.security import KeyRing, keyed_hash

RING = KeyRing.from_secret({"current": "2", "keys": {"1": "k" * 32, "2": "z" * 32}})


def test_token_shape_and_verification() -> None:
    token = RING.postback_token("pay-1")
    assert token.startswith("v2.")
    assert RING.verify_postback_token("pay-1", token)


def test_token_is_bound_to_the_payment() -> None:
    assert not RING.verify_postback_token("pay-2", RING.postback_token("pay-1"))


def test_tokens_of_an_older_key_still_verify_after_rotation() -> None:
    before = KeyRing.from_secret({"current": "1", "keys": {"1": "k" * 32}})
    token = before.postback_token("pay-1")
    assert token.startswith("v1.")
    assert RING.verify_postback_token("pay-1", token)


def test_tokens_of_a_retired_key_fail() -> None:
    retired = KeyRing.from_secret({"current": "2", "keys": {"2": "z" * 32}})
    assert not retired.verify_postback_token(
        "pay-1", KeyRing.from_secret({"current": "1", "keys": {"1": "k" * 32}}).postback_token("pay-1")
    )


@pytest.mark.parametrize("token", [None, "", "v2", "v2.", "2.abc", "v9.abc", "v2.AAAA", "v2." + "A" * 43, "x" * 500])
def test_bad_tokens_fail(token: str | None) -> None:
    assert not RING.verify_postback_token("pay-1", token)


def test_tampered_token_fails() -> None:
    token = RING.postback_token("pay-1")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not RING.verify_postback_token("pay-1", flipped)


@pytest.mark.parametrize(
    "secret",
    [
        {"current": "1", "keys": {}},
        {"current": "3", "keys": {"1": "k" * 32}},
        {"current": "1", "keys": {"1": "short"}},
        {"current": "1", "keys": {"1.x": "k" * 32}},
        {"current": "1"},
    ],
)
def test_malformed_rings_are_refused(secret: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        KeyRing.from_secret(secret)


def test_ring_repr_hides_keys() -> None:
    assert "k" * 32 not in repr(RING) and "z" * 32 not in repr(RING)


def test_keyed_hash_depends_on_key_and_purpose() -> None:
    assert keyed_hash(b"a", "v", purpose="p") == keyed_hash(b"a", "v", purpose="p")
    assert keyed_hash(b"a", "v", purpose="p") != keyed_hash(b"b", "v", purpose="p")
    assert keyed_hash(b"a", "v", purpose="p") != keyed_hash(b"a", "v", purpose="q")
