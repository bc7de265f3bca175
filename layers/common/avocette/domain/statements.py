"""Bill presentment (DESIGN §6g): which object holds a bill's PDF, and what a signed statement link
says. No I/O: the store finds and presigns the object, :mod:`avocette.security` signs the link.

The biller drops each bill's PDF into the inbound bucket under ``statements/`` and names it in the
billing file's optional ``StatementFile`` column. The name is the object's key under that prefix; it
is checked when the file is read and again before a key is made from it, so that nothing a billing
file (or a stored item) says can reach an object outside ``statements/``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from avocette.domain.billing import InvoiceRef

__all__ = [
    "PRESIGNED_URL_LIFETIME",
    "STATEMENTS_PREFIX",
    "STATEMENT_NAME_RULE",
    "StatementLink",
    "download_name",
    "statement_key",
    "statement_name",
]

STATEMENTS_PREFIX: Final = "statements/"
# How long a presigned URL of a bill lets its holder read it (DESIGN §3): long enough to open it.
PRESIGNED_URL_LIFETIME: Final = timedelta(minutes=5)
STATEMENT_NAME_RULE: Final = (
    "a PDF's name under statements/: up to 200 letters, digits and . _ - in parts separated by /, "
    "each part starting with a letter or digit, ending in .pdf"
)
_NAME_MAX = 200
# Parts that start with a letter or digit: no empty part, no "." or "..", no hidden file; nothing
# that a path, a URL or S3 reads otherwise (no backslash, percent, space, query or fragment).
_NAME = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)*[A-Za-z0-9][A-Za-z0-9._-]*\.[Pp][Dd][Ff]$")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def statement_name(text: str) -> str:
    """The name a ``StatementFile`` cell gives, checked: trimmed, with a leading ``statements/`` (the
    prefix written out) taken off once. ``ValueError`` (which never quotes the text) when it is not
    a name of :data:`STATEMENT_NAME_RULE`."""
    return _checked(text.strip().removeprefix(STATEMENTS_PREFIX))


def statement_key(name: str) -> str:
    """The S3 key of a stored statement name: always under ``statements/`` (the name checked again,
    as it is, so that a stored value that breaks the rule can never name another object)."""
    return STATEMENTS_PREFIX + _checked(name)


def _checked(name: str) -> str:
    if not name or len(name) > _NAME_MAX or not _NAME.fullmatch(name):
        raise ValueError(f"not {STATEMENT_NAME_RULE}")
    return name


def download_name(ref: InvoiceRef) -> str:
    """The file name the payer's browser saves a bill under: the invoice number, made safe for a
    Content-Disposition header (letters, digits and . _ - only)."""
    safe = _FILENAME_UNSAFE.sub("-", ref.invoice_number).strip("-.") or "bill"
    return f"{safe}.pdf"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class StatementLink:
    """What a signed statement link names: an invoice, and until when the link works. Its
    :meth:`payload` is the text the link's signature covers (base64url: no dot, nothing a path
    escapes); :meth:`from_payload` reads one back once its signature has been checked."""

    ref: InvoiceRef
    expires_at: datetime

    def payload(self) -> str:
        data = [self.ref.account_number, self.ref.invoice_number, int(self.expires_at.timestamp())]
        return _b64url(json.dumps(data, separators=(",", ":")).encode("utf-8"))

    @classmethod
    def from_payload(cls, payload: str) -> StatementLink:
        """``ValueError`` when the text is not a payload :meth:`payload` made."""
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            account, invoice, expires = json.loads(raw.decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise ValueError("not a statement link") from None
        if not isinstance(account, str) or not isinstance(invoice, str) or type(expires) is not int:
            raise ValueError("not a statement link")
        try:
            expires_at = datetime.fromtimestamp(expires, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("not a statement link") from None
        return cls(ref=InvoiceRef(account_number=account, invoice_number=invoice), expires_at=expires_at)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at
