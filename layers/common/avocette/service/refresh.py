"""Answering Invoice Cloud's balance refresh (DESIGN §3, the seed's "Real-Time Data Refresh").

Invoice Cloud asks for an account's current invoices so that its own pages (its customer portal, its
emails) never show a bill as due that a payer already paid through us. The caller is authenticated
first, as ``IC_REFRESH_AUTH`` says, and from an allowed source: until then nothing is read (a signed
call's nonce is the one thing written, after its signature checked). Then one Query reads the
account's invoices, :func:`avocette.domain.refresh.account_balances` says what is due on each (§5's
payable rule, without our holds), and the format named by ``IC_REFRESH_FORMAT`` writes the answer.
Logs name the account by its keyed hash only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import TypeAdapter, ValidationError

from avocette import SERVICE_NAME, clock, errors
from avocette.domain.common import IDENTIFIER
from avocette.domain.refresh import account_balances
from avocette.invoicecloud.refresh_format import FormatError, RefreshFormat, get_refresh_format
from avocette.security import (
    account_hash,
    basic_credential_matches,
    refresh_key_matches,
    refresh_signature_matches,
)
from avocette.settings.refresh import (
    DEFAULT_REFRESH_FORMAT,
    RefreshCredential,
    RefreshSettings,
    get_refresh_credential,
    get_refresh_settings,
)
from avocette.settings.registration import get_registration_hash_key
from avocette.store import refresh as refresh_store

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "RefreshAnswer",
    "RefreshRequest",
    "RefreshRules",
    "answer_refresh",
    "count_failure",
    "default_answer_format",
]

logger = Logger(service=SERVICE_NAME, child=True)
metrics = Metrics()

# The ``hmac`` scheme's headers (lower-case, as API Gateway passes them).
TIMESTAMP_HEADER = "x-ic-timestamp"
NONCE_HEADER = "x-ic-nonce"
SIGNATURE_HEADER = "x-ic-signature"
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_ACCOUNT_NUMBER: TypeAdapter[str] = TypeAdapter(Annotated[str, IDENTIFIER])
# The challenge of a 401, by scheme (RFC 9110: a 401 says how to authenticate).
_CHALLENGES = {
    "basic": 'Basic realm="invoicecloud-refresh", charset="UTF-8"',
    "header": 'ApiKey realm="invoicecloud-refresh"',
    "hmac": 'IC-HMAC-SHA256 realm="invoicecloud-refresh"',
}


@dataclass(frozen=True)
class RefreshRequest:
    """What the handler read from the call: the account as the path named it (decoded), the headers
    (lower-case names) and the caller's address."""

    account_number: str
    headers: Mapping[str, str]
    source_ip: str | None


@dataclass(frozen=True)
class RefreshAnswer:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class RefreshRules:
    """What answering a refresh needs, as its handler loaded it: the settings, the credential, and the
    key that hashes account numbers for the logs (read only once an account is to be logged)."""

    settings: RefreshSettings
    credential: RefreshCredential
    hash_key: Callable[[], bytes]

    @classmethod
    def from_environment(cls) -> RefreshRules:
        return cls(
            settings=get_refresh_settings(),
            credential=get_refresh_credential(),
            hash_key=get_registration_hash_key,
        )


def count_failure() -> None:
    """A refresh answered 5xx (storage, configuration, a bug): Invoice Cloud's pages may show paid bills
    as due until one succeeds (``RefreshFailedAlarm``)."""
    metrics.add_metric(name="RefreshFailed", unit=MetricUnit.Count, value=1)


def answer_refresh(request: RefreshRequest, *, rules: RefreshRules) -> RefreshAnswer:
    """The account's balances in the configured format. Raises ``RefreshUnauthorizedError`` (401,
    nothing read), ``RefreshAccountNotFoundError`` (404), ``StoreUnavailableError`` (503) and
    ``ConfigurationError`` (500)."""
    now = clock.utc_now()
    _authenticate(request, rules, now)
    answer_format = _format(rules.settings)
    number = _account_number(request.account_number)
    invoices = refresh_store.read_invoices_for_refresh(number) if number is not None else None
    if number is None or invoices is None:
        metrics.add_metric(name="RefreshAccountNotFound", unit=MetricUnit.Count, value=1)
        logger.info(
            "Balance refresh for an unknown account",
            extra={"account_hash": account_hash(rules.hash_key(), request.account_number[:256])},
        )
        raise errors.RefreshAccountNotFoundError()
    balances = account_balances(number, invoices, now)
    body = answer_format.render(balances)
    metrics.add_metric(name="RefreshAnswered", unit=MetricUnit.Count, value=1)
    logger.info(
        "Balance refresh answered",
        extra={
            "account_hash": account_hash(rules.hash_key(), number),
            "invoices": len(balances.invoices),
            "invoices_due": sum(1 for invoice in balances.invoices if not invoice.paid_in_full),
        },
    )
    return RefreshAnswer(body=body, content_type=answer_format.content_type)


def _authenticate(request: RefreshRequest, rules: RefreshRules, now: datetime) -> None:
    """Refuse (401) unless the source is allowed and the credential is the configured one."""
    settings = rules.settings
    if not settings.source_allowed(request.source_ip):
        _refuse(settings, "source")
    secrets = rules.credential.secrets()
    headers = request.headers
    scheme = settings.ic_refresh_auth
    if scheme == "basic":
        accepted = basic_credential_matches(headers.get("authorization"), rules.credential.username, secrets)
    elif scheme == "header":
        accepted = refresh_key_matches(headers.get(settings.ic_refresh_header.lower()), secrets)
    else:
        accepted = _signed(request, secrets, settings, now)
    if not accepted:
        _refuse(settings, "credential")


def _signed(request: RefreshRequest, secrets: tuple[bytes, ...], settings: RefreshSettings, now: datetime) -> bool:
    """The ``hmac`` scheme: a signature of this account, a timestamp within the window, and a nonce never
    seen before (remembered only once the rest checked, so that no stranger writes anything)."""
    timestamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
    nonce = request.headers.get(NONCE_HEADER, "").strip()
    if not _TIMESTAMP.match(timestamp) or not _NONCE.match(nonce):
        return False
    signed = refresh_signature_matches(
        request.headers.get(SIGNATURE_HEADER),
        secrets,
        account_number=request.account_number,
        timestamp=timestamp,
        nonce=nonce,
    )
    skew = timedelta(seconds=settings.ic_refresh_max_skew_seconds)
    moment = datetime.fromtimestamp(int(timestamp), UTC) if int(timestamp) < 10**11 else None
    if not signed or moment is None or abs(now - moment) > skew:
        return False
    return refresh_store.remember_nonce(nonce, until=moment + skew)


def _refuse(settings: RefreshSettings, reason: str) -> None:
    metrics.add_metric(name="RefreshUnauthorized", unit=MetricUnit.Count, value=1)
    logger.warning("Balance refresh refused", extra={"scheme": settings.ic_refresh_auth, "reason": reason})
    raise errors.RefreshUnauthorizedError(challenge=_CHALLENGES[settings.ic_refresh_auth])


def default_answer_format() -> RefreshFormat:
    """The format a stack answers in unless IC_REFRESH_FORMAT names another (for the OpenAPI document)."""
    return get_refresh_format(DEFAULT_REFRESH_FORMAT)


def _format(settings: RefreshSettings) -> RefreshFormat:
    try:
        return get_refresh_format(settings.ic_refresh_format)
    except FormatError as exc:
        raise errors.ConfigurationError(f"IC_REFRESH_FORMAT: {exc}") from None


def _account_number(text: str) -> str | None:
    """The account number the path names, as the billing file would hold it; ``None`` when it cannot
    be one (too long, characters no billing file allows): answered like an unknown account."""
    try:
        return _ACCOUNT_NUMBER.validate_python(text)
    except ValidationError:
        return None
