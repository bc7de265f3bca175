"""Key builders: the one place that knows how items are keyed (DESIGN §5)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "OPEN_PAYMENTS",
    "REVIEW_QUEUE",
    "account_key",
    "account_links_pk",
    "account_pk",
    "change_key",
    "changes_pk",
    "finished_day_pk",
    "invoice_cloud_known_key",
    "invoice_key",
    "invoice_sk",
    "ledger_key",
    "ledger_pk",
    "link_key",
    "payment_key",
    "payment_pk",
    "postback_sk",
    "reconciliation_key",
    "refresh_nonce_key",
    "reversal_sk",
    "review_sk",
    "user_payments_pk",
    "user_pk",
]

PROFILE = "PROFILE"
# What we know of an account at Invoice Cloud (the change log's memory, DESIGN §6g), beside its profile.
INVOICE_CLOUD_KNOWN = "INVOICECLOUD"
INVOICE_PREFIX = "INVOICE#"
ACCOUNT_PREFIX = "ACCOUNT#"
POSTBACK_PREFIX = "POSTBACK#"
REVIEW_PREFIX = "REVIEW#"
REVERSAL_PREFIX = "REVERSAL#"
PAYMENT_SK = "PAYMENT"
OPEN_PAYMENTS = "OPEN"
# GSI2 partition of the payments waiting for a person (NEEDS_REVIEW), by when they were flagged.
REVIEW_QUEUE = "REVIEW"


def account_pk(account_number: str) -> str:
    return f"{ACCOUNT_PREFIX}{account_number}"


def invoice_sk(invoice_number: str) -> str:
    return f"{INVOICE_PREFIX}{invoice_number}"


def account_key(account_number: str) -> dict[str, Any]:
    return {"PK": {"S": account_pk(account_number)}, "SK": {"S": PROFILE}}


def invoice_key(account_number: str, invoice_number: str) -> dict[str, Any]:
    return {"PK": {"S": account_pk(account_number)}, "SK": {"S": invoice_sk(invoice_number)}}


def invoice_cloud_known_key(account_number: str) -> dict[str, Any]:
    return {"PK": {"S": account_pk(account_number)}, "SK": {"S": INVOICE_CLOUD_KNOWN}}


def user_pk(sub: str) -> str:
    return f"USER#{sub}"


def account_links_pk(account_number: str) -> str:
    """GSI1 partition of the links to one account (each user's link under ``USER#{sub}``)."""
    return f"LINKS#{account_number}"


def link_key(sub: str, account_number: str) -> dict[str, Any]:
    return {"PK": {"S": user_pk(sub)}, "SK": {"S": account_pk(account_number)}}


def payment_pk(payment_id: str) -> str:
    return f"PAYMENT#{payment_id}"


def payment_key(payment_id: str) -> dict[str, Any]:
    return {"PK": {"S": payment_pk(payment_id)}, "SK": {"S": PAYMENT_SK}}


def postback_sk(identity: str) -> str:
    return f"{POSTBACK_PREFIX}{identity}"


def ledger_pk(day: str) -> str:
    """The ledger's partition of one day (YYYY-MM-DD): the credits and reversals recorded that day."""
    return f"LEDGER#{day}"


def ledger_key(day: str, sort_key: str) -> dict[str, Any]:
    return {"PK": {"S": ledger_pk(day)}, "SK": {"S": sort_key}}


def changes_pk(day: str) -> str:
    """The change log's partition of one day (YYYY-MM-DD, the biller's day): the customer changes
    recorded that day (DESIGN §6g)."""
    return f"CHANGES#{day}"


def change_key(day: str, sort_key: str) -> dict[str, Any]:
    return {"PK": {"S": changes_pk(day)}, "SK": {"S": sort_key}}


def reversal_sk(identity: str) -> str:
    return f"{REVERSAL_PREFIX}{identity}"


def reconciliation_pk(day: str) -> str:
    """The records of the Invoice Cloud payment files of one day (the day their keys name)."""
    return f"RECON#{day}"


def reconciliation_key(day: str, file_key: str) -> dict[str, Any]:
    """The record of one Invoice Cloud payment file reconciled, under the day it covers."""
    return {"PK": {"S": reconciliation_pk(day)}, "SK": {"S": f"FILE#{file_key}"}}


def review_sk(review_id: str) -> str:
    """A review decision's audit item, by its id (when it was made, to the microsecond, and a random
    part: two decisions never share one)."""
    return f"{REVIEW_PREFIX}{review_id}"


def user_payments_pk(sub: str) -> str:
    """GSI1 partition of a user's payments (sorted by ``{createdAt}#{id}``)."""
    return user_pk(sub)


def finished_day_pk(day: str) -> str:
    """GSI2 partition of the payments that became final on ``day`` (YYYY-MM-DD)."""
    return f"DAY#{day}"


# Nonces of signed balance refreshes (IC_REFRESH_AUTH=hmac), kept with ``ttl`` until their window ends.
REFRESH_NONCE_PREFIX = "REFRESHNONCE#"


def refresh_nonce_key(nonce: str) -> dict[str, Any]:
    """One nonce of a signed balance refresh (letters, digits, ``_`` and ``-`` only: checked before)."""
    return {"PK": {"S": f"{REFRESH_NONCE_PREFIX}{nonce}"}, "SK": {"S": "NONCE"}}
