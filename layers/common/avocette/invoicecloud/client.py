"""The Invoice Cloud HTTP client: one connection pool, the timeouts and retry rules of DESIGN §7.

- connect 3 s / read 10 s per attempt, and an overall deadline (20 s) checked before each attempt;
- the CPV2 POST is retried only on a connection error (the request never reached IC), once;
- reads (ViewCustomerRecord) are retried on 502/503/504 at most twice, with backoff;
- redirects are never followed; TLS is verified against certifi's bundle;
- every failure is a typed :mod:`avocette.errors` InvoiceCloudError whose message carries no
  credential: the API key travels only in the Authorization header, never in a URL or a log line.

urllib3 directly (botocore's own HTTP library, already loaded by every function): what requests
added here (sessions, adapters mounted by path) is a retry policy chosen by path, and its import
cost a cold start some 20 ms (docs/performance.md). Each call is an X-Ray subsegment of its own, as
X-Ray's patch of requests made it. The customer records' XML is read only by the functions that ask
for one (:mod:`avocette.invoicecloud.customers` is loaded on the first such call).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode, urlsplit

import certifi
import urllib3
from aws_lambda_powertools import Logger, Tracer
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from avocette import SERVICE_NAME
from avocette.errors import (
    InvoiceCloudError,
    InvoiceCloudRejectedError,
    InvoiceCloudTimeoutError,
    InvoiceCloudUnavailableError,
    UnexpectedPaymentUrlError,
)
from avocette.invoicecloud.cpv2 import Cpv2Request, Cpv2Response, encode_request
from avocette.settings.invoicecloud import InvoiceCloudSecret, get_invoice_cloud_secret, get_invoice_cloud_settings

if TYPE_CHECKING:
    from avocette.invoicecloud.customers import CustomerRecordStatus, NewCustomerRecord

__all__ = [
    "CPV2_PATH",
    "CUSTOMER_RECORDS_PATH",
    "DeadlineExceededError",
    "InvoiceCloudClient",
    "basic_credential",
    "get_client",
]

logger = Logger(service=SERVICE_NAME, child=True)
# The function's tracer (Powertools shares one configuration), patching nothing itself: each call is a
# subsegment of its own (:meth:`InvoiceCloudClient._post`); a no-op where tracing is off.
tracer = Tracer(patch_modules=[])

CPV2_PATH = "/cloudpaymentsapi/v2"
CUSTOMER_RECORDS_PATH = "/portal/webservices/CloudManagement.asmx/"
_MAX_MESSAGE = 200

# The deadline of the call under way in this thread (time.monotonic()), read by the retry policy.
_deadline: ContextVar[float | None] = ContextVar("invoice_cloud_deadline", default=None)


class DeadlineExceededError(Exception):
    """Raised inside urllib3 when no time is left for another attempt."""


class _DeadlineRetry(Retry):
    """urllib3's Retry, plus the overall deadline: no new attempt, and no backoff sleep, past it."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() >= deadline:
            raise MaxRetryError(_pool, url, DeadlineExceededError())  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def get_backoff_time(self) -> float:
        backoff = super().get_backoff_time()
        deadline = _deadline.get()
        if deadline is None:
            return backoff
        return max(0.0, min(backoff, deadline - time.monotonic()))


def _cpv2_retry() -> Retry:
    # Only a failed connection is retried: a POST that may have reached IC is never sent twice.
    return _DeadlineRetry(total=1, connect=1, read=0, status=0, other=0, redirect=0, raise_on_status=False)


def _read_retry() -> Retry:
    return _DeadlineRetry(
        total=2,
        connect=1,
        read=0,
        other=0,
        redirect=0,
        status=2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        backoff_factor=0.3,
        respect_retry_after_header=False,
        raise_on_status=False,
    )


class InvoiceCloudClient:
    def __init__(
        self,
        *,
        base_url: str,
        secret: Callable[[], InvoiceCloudSecret],
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        deadline_seconds: float = 20.0,
        basic_auth_form: str = "key",
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._basic_auth_form = basic_auth_form
        self._secret = secret
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._deadline_seconds = deadline_seconds
        self._host = urlsplit(self._base_url).hostname or self._base_url
        self._pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())

    def _retries(self, path: str) -> Retry:
        """The retry policy of a path: reads of customer records retry gateway errors; the CPV2 POST
        and writes of customer records, only a connection that failed."""
        if path.startswith(CUSTOMER_RECORDS_PATH) and path != CUSTOMER_RECORDS_PATH + "UpdateCustomerRecord":
            return _read_retry()
        return _cpv2_retry()

    @property
    def base_url(self) -> str:
        return self._base_url

    @contextlib.contextmanager
    def _deadline_scope(self, seconds: float | None = None) -> Iterator[float]:
        allowed = self._deadline_seconds if seconds is None else min(self._deadline_seconds, seconds)
        deadline = time.monotonic() + allowed
        token = _deadline.set(deadline)
        try:
            yield deadline
        finally:
            _deadline.reset(token)

    def _post(
        self,
        operation: str,
        path: str,
        deadline_seconds: float | None = None,
        *,
        body: bytes | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> BaseHTTPResponse:
        """POST ``body`` (or ``form``, URL-encoded) with the timeouts and deadline (the client's, or a
        shorter one for this call); connection problems become typed errors."""
        sent = {"Accept-Encoding": "gzip, deflate", **(headers or {})}
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        with (
            self._deadline_scope(deadline_seconds) as deadline,
            tracer.provider.in_subsegment(name=self._host, namespace="remote") as segment,
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:  # a call queued behind slower ones, its budget spent before it began
                raise InvoiceCloudTimeoutError(f"{operation}: the Invoice Cloud deadline passed before the call")
            timeout = Timeout(connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining))
            started = time.monotonic()
            _http_meta(segment, url=self._base_url + path, method="POST")
            try:
                # Never follow a redirect: the body carries the biller's keys and payers' details,
                # and a redirect could send them anywhere, over plain http (DESIGN §4).
                response = self._pool.request(
                    "POST",
                    self._base_url + path,
                    body=body,
                    headers=sent,
                    timeout=timeout,
                    retries=self._retries(path),
                    redirect=False,
                )
            except (HTTPError, OSError) as exc:
                raise _failure(operation, exc) from None
            _http_meta(segment, status=response.status)
        if 300 <= response.status < 400:
            logger.warning("Invoice Cloud redirected; not followed", extra={"operation": operation})
            raise InvoiceCloudRejectedError(
                f"{operation}: Invoice Cloud answered with a redirect, which is never followed",
                ic_status=response.status,
            )
        logger.info(
            "Invoice Cloud answered",
            extra={
                "operation": operation,
                "http_status": response.status,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return response

    def start_cloud_payment(self, request: Cpv2Request, *, allowed_url_prefixes: tuple[str, ...]) -> str:
        """POST the CPV2 request; the hosted payment URL, checked against the allowed prefixes."""
        secret = self._secret()
        response = self._post(
            "CloudPaymentsV2",
            CPV2_PATH,
            body=encode_request(request),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": basic_credential(secret.api_key.get_secret_value(), self._basic_auth_form),
            },
        )
        answer = _cpv2_answer(response)
        url = answer.data.cloud_payment_url if answer.data else None
        if not answer.succeeded or url is None:
            raise InvoiceCloudRejectedError(_ic_message(answer.message), ic_status=response.status)
        if not any(url.startswith(prefix) for prefix in allowed_url_prefixes):
            raise UnexpectedPaymentUrlError("Invoice Cloud returned a payment URL outside the allowed prefixes")
        return url

    # ---- customer records (CloudManagement) ----------------------------------------------------

    def _cloud_management_form(self) -> dict[str, str]:
        secret = self._secret()
        return {"BillerGUID": secret.biller_guid, "WebServiceKey": secret.web_service_key.get_secret_value()}

    def view_customer_record(
        self, account_number: str, *, missing_fault: str, deadline_seconds: float | None = None
    ) -> CustomerRecordStatus | None:
        """The account's customer record, or None when IC says it has none (a fault whose text
        matches ``missing_fault``). Retried on 502/503/504 (it only reads)."""
        from avocette.invoicecloud.customers import (  # noqa: PLC0415 - only where records are asked for
            MalformedAnswerError,
            fault_means_missing,
            parse_customer_record,
        )

        response = self._post(
            "ViewCustomerRecord",
            CUSTOMER_RECORDS_PATH + "ViewCustomerRecord",
            deadline_seconds=deadline_seconds,
            form={**self._cloud_management_form(), "AccountNumber": account_number},
        )
        if response.status == 200:
            try:
                return parse_customer_record(response.data)
            except MalformedAnswerError:
                raise InvoiceCloudUnavailableError("ViewCustomerRecord: the answer was not a customer record") from None
        fault = _fault_or_raise("ViewCustomerRecord", response)
        if fault_means_missing(fault, missing_fault):
            return None
        raise InvoiceCloudRejectedError(f"ViewCustomerRecord: {_ic_message(fault)}", ic_status=response.status)

    def create_customer_record(self, record: NewCustomerRecord, *, deadline_seconds: float | None = None) -> None:
        """Create a missing record with UpdateCustomerRecord (never sent for an existing one)."""
        from avocette.invoicecloud.customers import (  # noqa: PLC0415 - only where records are written
            MalformedAnswerError,
            parse_update_answer,
        )

        response = self._post(
            "UpdateCustomerRecord",
            CUSTOMER_RECORDS_PATH + "UpdateCustomerRecord",
            deadline_seconds=deadline_seconds,
            form={**self._cloud_management_form(), **record.to_form()},
        )
        if response.status == 200:
            try:
                saved = parse_update_answer(response.data)
            except MalformedAnswerError:
                raise InvoiceCloudUnavailableError("UpdateCustomerRecord: the answer was not a boolean") from None
            if not saved:
                raise InvoiceCloudRejectedError(
                    "UpdateCustomerRecord: Invoice Cloud did not save the record", ic_status=200
                )
            return
        fault = _fault_or_raise("UpdateCustomerRecord", response)
        raise InvoiceCloudRejectedError(f"UpdateCustomerRecord: {_ic_message(fault)}", ic_status=response.status)


def _http_meta(segment: Any, **meta: Any) -> None:
    """X-Ray's HTTP fields of a subsegment, as its patch of requests set them (Powertools' segment
    type does not declare them)."""
    for key, value in meta.items():
        segment.put_http_meta(key, value)


def basic_credential(api_key: str, form: str) -> str:
    """CPV2's Authorization header: ``Basic base64(apiKey)``, as the Koha plugin, Aspen and the
    public proof of concept send it (``key``), or the RFC 7617 form ``base64(apiKey:)``
    (``key-colon``), by the setting IC_BASIC_AUTH_FORM (DESIGN §4a)."""
    material = api_key if form == "key" else f"{api_key}:"
    return "Basic " + base64.b64encode(material.encode("utf-8")).decode("ascii")


def _fault_or_raise(operation: str, response: BaseHTTPResponse) -> str:
    """The SOAP fault of a non-200 answer; a gateway error or an answer with no fault raises."""
    from avocette.invoicecloud.customers import parse_fault  # noqa: PLC0415 - as the records' calls

    status = response.status
    if status in (502, 503, 504):
        raise InvoiceCloudUnavailableError(f"{operation}: Invoice Cloud answered HTTP {status}", ic_status=status)
    fault = parse_fault(response.data)
    if fault is None:
        if status >= 500:
            raise InvoiceCloudUnavailableError(f"{operation}: Invoice Cloud answered HTTP {status}", ic_status=status)
        raise InvoiceCloudRejectedError(f"{operation}: Invoice Cloud answered HTTP {status}", ic_status=status)
    return fault


def _failure(operation: str, exc: BaseException) -> InvoiceCloudError:
    """The typed error of a request that got no answer (urllib3's error, or MaxRetryError with its
    reason): a timeout to connect, or to read an answer; the deadline passed; or IC unreachable."""
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    if isinstance(reason, DeadlineExceededError):
        return InvoiceCloudTimeoutError(f"{operation}: the Invoice Cloud deadline passed")
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return InvoiceCloudTimeoutError(f"{operation}: Invoice Cloud did not accept the connection in time")
    if isinstance(exc, ReadTimeoutError):
        return InvoiceCloudTimeoutError(f"{operation}: Invoice Cloud did not answer in time")
    if isinstance(reason, ResponseError) or not isinstance(exc, MaxRetryError | ProtocolError | OSError):
        return InvoiceCloudUnavailableError(f"{operation}: the request to Invoice Cloud failed")
    return InvoiceCloudUnavailableError(f"{operation}: Invoice Cloud could not be reached")


def _cpv2_answer(response: BaseHTTPResponse) -> Cpv2Response:
    status = response.status
    if status in (401, 403):
        raise InvoiceCloudRejectedError("Invoice Cloud refused our credentials", ic_status=status)
    if status >= 500:
        raise InvoiceCloudUnavailableError(f"Invoice Cloud answered HTTP {status}", ic_status=status)
    try:
        body = json.loads(response.data)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if 200 <= status < 300:
            raise InvoiceCloudUnavailableError("Invoice Cloud's answer was not a JSON object", ic_status=status)
        raise InvoiceCloudRejectedError(f"Invoice Cloud answered HTTP {status}", ic_status=status)
    try:
        answer = Cpv2Response.model_validate(body)
    except ValueError:
        raise InvoiceCloudUnavailableError("Invoice Cloud's answer had an unexpected shape", ic_status=status) from None
    if not 200 <= status < 300:
        raise InvoiceCloudRejectedError(_ic_message(answer.message, status), ic_status=status)
    return answer


def _ic_message(message: str | None, status: int | None = None) -> str:
    text = " ".join((message or "").split())[:_MAX_MESSAGE]
    if text:
        return f"Invoice Cloud said: {text}"
    return (
        f"Invoice Cloud answered HTTP {status} without a message"
        if status
        else "Invoice Cloud answered without a message"
    )


@lru_cache(maxsize=1)
def get_client() -> InvoiceCloudClient:
    """The process's client (one HTTP session, reused across warm invocations)."""
    settings = get_invoice_cloud_settings()
    return InvoiceCloudClient(
        base_url=settings.ic_base_url,
        secret=get_invoice_cloud_secret,
        connect_timeout=settings.ic_connect_timeout_seconds,
        read_timeout=settings.ic_read_timeout_seconds,
        deadline_seconds=settings.ic_deadline_seconds,
        basic_auth_form=settings.ic_basic_auth_form,
    )
