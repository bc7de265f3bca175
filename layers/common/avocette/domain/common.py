"""What the rules share: who is acting, and what an identifier may be."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import StringConstraints

__all__ = ["IDENTIFIER", "IDENTIFIER_RULE", "Caller"]

# An account or invoice number, in the billing file and the API alike: one rule (DESIGN §5).
IDENTIFIER_RULE = "1 to 64 letters, digits, spaces or . _ - /, starting with a letter or digit"
IDENTIFIER = StringConstraints(
    strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/ ]*$"
)


@dataclass(frozen=True)
class Caller:
    """The signed-in portal user, from the ID token API Gateway's authorizer checked."""

    sub: str
    email: str | None
    email_verified: bool
