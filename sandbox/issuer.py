"""The sandbox's OpenID Connect stand-in: ID tokens signed with a key made fresh for each run, and
the checks API Gateway's JWT authorizer makes (issuer, audience, expiry, signature)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["LocalIssuer", "TokenRejectedError"]

AUDIENCE = "avocette-sandbox-portal"


class TokenRejectedError(Exception):
    """The bearer token would not pass API Gateway's JWT authorizer."""


class LocalIssuer:
    def __init__(self, issuer: str, audience: str = AUDIENCE, lifetime_seconds: int = 3600) -> None:
        self.issuer = issuer
        self.audience = audience
        self.lifetime_seconds = lifetime_seconds
        self.key_id = uuid.uuid4().hex[:16]
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_pem = self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def issue(
        self, sub: str, email: str | None = None, *, email_verified: bool = True, lifetime: int | None = None
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + (self.lifetime_seconds if lifetime is None else lifetime),
            "email": email or f"{sub}@example.com",
            "email_verified": email_verified,
            "token_use": "id",
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.key_id})

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of ``Authorization: Bearer <token>``, as API Gateway would accept them."""
        if not authorization:
            raise TokenRejectedError("no Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejectedError("not a bearer token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self._public_pem,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejectedError(type(exc).__name__) from None
        return claims

    @staticmethod
    def as_authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
        """API Gateway passes JWT claims to Lambda as strings."""
        return {name: _claim_text(value) for name, value in claims.items()}


def _claim_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(str(item) for item in value) + "]"
    return str(value)
