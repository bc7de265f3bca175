"""Bill presentment (DESIGN §6g): a payer's bill as a presigned URL, after the ownership check
(GET /accounts/{accountNumber}/invoices/{invoiceNumber}/statement), and the signed statement links
that Invoice Cloud may be given (GET /statement-links/{token}).

A bill is shown only for an invoice still on the bill (not closed by a full billing file): when an
account changes hands, its new occupant must not read the previous one's bills. Logs name no account,
invoice or statement (a statement's name may hold the account number): a missing PDF is reported with
the as-of time of the billing file that named it, which is what ops look for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import TypeAdapter, ValidationError

from avocette import SERVICE_NAME, clock, errors
from avocette.api.statements import StatementResponse
from avocette.domain.billing import Invoice, InvoiceRef
from avocette.domain.common import IDENTIFIER
from avocette.domain.statements import PRESIGNED_URL_LIFETIME, StatementLink, download_name, statement_key
from avocette.security import KeyRing
from avocette.settings.statements import (
    get_statement_link_key_ring,
    get_statement_link_settings,
    get_statements_bucket,
)
from avocette.store import billing as billing_store
from avocette.store import links as links_store
from avocette.store import statements as statements_store
from avocette.store.files import StorageUnavailableError

__all__ = [
    "LINK_PURPOSE",
    "StatementLinkRules",
    "StatementRules",
    "get_statement",
    "open_statement_link",
    "statement_link_token",
]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

# What a statement link's signature is for: a postback token can never pass for one, nor one for it.
LINK_PURPOSE = "statement"

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Annotated[str, IDENTIFIER])


@dataclass(frozen=True)
class StatementRules:
    """What showing a bill needs: the bucket whose ``statements/`` holds the PDFs."""

    bucket: str

    @classmethod
    def from_environment(cls) -> StatementRules:
        return cls(bucket=get_statements_bucket())


@dataclass(frozen=True)
class StatementLinkRules:
    """What opening a signed statement link needs: whether links are on at all (off, every link is
    refused and no key is read), the bucket, and the key ring (read when first asked for)."""

    enabled: bool
    bucket: str
    key_ring: KeyRing | None

    @classmethod
    def from_environment(cls) -> StatementLinkRules:
        enabled = get_statement_link_settings().ic_statement_links
        return cls(
            enabled=enabled,
            bucket=get_statements_bucket(),
            key_ring=get_statement_link_key_ring() if enabled else None,
        )


def get_statement(sub: str, account_number: str, invoice_number: str, *, rules: StatementRules) -> StatementResponse:
    """The bill of one of the caller's invoices, as a URL valid for 5 minutes. The caller's link to the
    account is checked first: another payer's invoice, an unknown one, one without a bill, and a
    number that cannot be one all answer the same 404 ``statement_not_found``."""
    ref = _ref(account_number, invoice_number)
    if ref is None or not links_store.is_linked(sub, ref.account_number):
        raise errors.StatementNotFoundError()
    return _presigned(billing_store.get_invoice(ref), rules.bucket)


def statement_link_token(key_ring: KeyRing, link: StatementLink) -> str:
    """The token of a signed statement link (the last part of ``/statement-links/{token}``)."""
    return key_ring.signed_token(LINK_PURPOSE, link.payload())


def open_statement_link(token: str, *, rules: StatementLinkRules) -> StatementResponse:
    """Where a signed statement link leads: its signature checked before anything is read (403
    ``invalid_link``, also when links are off), then its expiry (410 ``link_expired``), then the bill
    as for the portal (404 ``statement_not_found`` when the invoice or its PDF is gone)."""
    if not rules.enabled or rules.key_ring is None:
        raise errors.InvalidStatementLinkError()
    payload = rules.key_ring.signed_payload(LINK_PURPOSE, token)
    if payload is None:
        metrics.add_metric(name="StatementLinkRefused", unit=MetricUnit.Count, value=1)
        raise errors.InvalidStatementLinkError()
    try:
        link = StatementLink.from_payload(payload)
    except ValueError:  # signed by our key, yet not a link we make: a key was used for something else
        logger.error("A signed statement link does not read as one")
        raise errors.InvalidStatementLinkError() from None
    if link.expired(clock.utc_now()):
        raise errors.StatementLinkExpiredError()
    return _presigned(billing_store.get_invoice(link.ref), rules.bucket)


def _ref(account_number: str, invoice_number: str) -> InvoiceRef | None:
    """The invoice the path names, or ``None`` when either number breaks the identifier rule (no
    such invoice can exist; nothing is read for it)."""
    try:
        return InvoiceRef(
            account_number=_IDENTIFIER.validate_python(account_number),
            invoice_number=_IDENTIFIER.validate_python(invoice_number),
        )
    except ValidationError:
        return None


def _presigned(invoice: Invoice | None, bucket: str) -> StatementResponse:
    if invoice is None or invoice.closed_at is not None or not invoice.statement_file:
        raise errors.StatementNotFoundError()
    try:
        key = statement_key(invoice.statement_file)
    except ValueError:  # the import checks every name: a stored one that breaks the rule was not ours
        logger.error("A stored statement name breaks the rule", extra={"billed_as_of": _stamp(invoice.billed_as_of)})
        raise errors.StatementNotFoundError() from None
    try:
        present = statements_store.statement_exists(bucket, key)
    except StorageUnavailableError as exc:
        raise errors.StoreUnavailableError("S3 is unavailable") from exc
    if not present:
        metrics.add_metric(name="StatementMissing", unit=MetricUnit.Count, value=1)
        logger.warning(
            "A statement the billing file names is not in the bucket (or not readable)",
            extra={"billed_as_of": _stamp(invoice.billed_as_of)},
        )
        raise errors.StatementNotFoundError()
    now = clock.utc_now()
    url = statements_store.presigned_url(
        bucket, key, download_name=download_name(invoice.ref), lifetime=PRESIGNED_URL_LIFETIME
    )
    metrics.add_metric(name="StatementShown", unit=MetricUnit.Count, value=1)
    return StatementResponse(url=url, expires_at=now + PRESIGNED_URL_LIFETIME)


def _stamp(moment: datetime) -> str:
    return clock.timestamp(moment)
