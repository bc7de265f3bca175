"""The HTTP edge shared by every API function: the resolver, the caller's claims, and the one
mapping of typed errors to the contract's ``{"error", "message"}`` answers (DESIGN §3)."""

from __future__ import annotations

import base64
import binascii
import json
import traceback
from collections.abc import Mapping
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from avocette import SERVICE_NAME
from avocette.config import ConfigurationError
from avocette.domain import errors
from avocette.domain.common import Caller
from avocette.invoicecloud.errors import InvoiceCloudError, InvoiceCloudTimeoutError
from avocette.store.table import StoreUnavailableError

__all__ = ["MAX_BODY_BYTES", "ApiResolver", "Caller", "create_app", "current_caller", "error_response"]

logger = Logger(service=SERVICE_NAME, child=True)

MAX_BODY_BYTES = 64 * 1024

_DOMAIN_STATUS: dict[type[errors.DomainError], HTTPStatus] = {
    errors.UnauthorizedError: HTTPStatus.UNAUTHORIZED,
    errors.RegistrationRequiredError: HTTPStatus.FORBIDDEN,
    errors.EmailUnverifiedError: HTTPStatus.FORBIDDEN,
    errors.InvoiceNotFoundError: HTTPStatus.NOT_FOUND,
    errors.AccountNotFoundError: HTTPStatus.NOT_FOUND,
    errors.PaymentNotFoundError: HTTPStatus.NOT_FOUND,
    errors.InvoiceNotPayableError: HTTPStatus.CONFLICT,
    errors.PaymentInProgressError: HTTPStatus.CONFLICT,
    errors.RequestInProgressError: HTTPStatus.CONFLICT,
    errors.IdempotencyKeyReusedError: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.InvalidCursorError: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.TooManyAttemptsError: HTTPStatus.TOO_MANY_REQUESTS,
    errors.InvalidTokenError: HTTPStatus.FORBIDDEN,
    errors.InvalidPostbackError: HTTPStatus.BAD_REQUEST,
}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return Response(status_code=int(status), content_type=content_types.APPLICATION_JSON, body=body)


def current_caller(app: APIGatewayHttpResolver) -> Caller:
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise errors.UnauthorizedError()
    verified = claims.get("email_verified")
    return Caller(
        sub=sub,
        email=claims.get("email") or None,
        # API Gateway passes claims as strings; a signed token may also carry a real boolean.
        email_verified=verified is True or str(verified).lower() == "true",
    )


def _internal_error() -> Response:
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side. Please try again later."
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Location, type and pydantic's message, never the input (it may hold payer data).
    return [
        {
            "loc": [part for part in error.get("loc", ()) if part != "body"],
            "type": error.get("type"),
            "msg": error.get("msg"),
        }
        for error in exc.errors()
    ]


_JSON_TYPES = ("application/json",)
_MAX_DEPTH = 32
_MAX_NUMBER_DIGITS = 30


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def _answer(status: HTTPStatus, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": int(status),
        "headers": {"Content-Type": content_types.APPLICATION_JSON, "Cache-Control": "no-store"},
        "body": json.dumps({"error": code, "message": message}, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _depth(value: Any, limit: int) -> int:
    """How deep a parsed JSON value nests (lists and objects), stopping at ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _checked_json_body(event: Mapping[str, Any]) -> str | None:
    """The body as JSON text a payer's browser could have sent, or why not (raises :class:`_Refused`).

    Checked before Powertools reads it: the size in bytes (64 KB), UTF-8, a JSON content type, JSON
    that parses without recursion or giant numbers, and no deeper than 32 levels."""
    raw = event.get("body")
    if not raw:
        return None
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode("utf-8")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _Refused(HTTPStatus.BAD_REQUEST, "invalid_json", "The request body is not valid JSON.") from None
    if len(data) > MAX_BODY_BYTES:
        raise _Refused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "The request body is larger than 64 KB."
        )
    media = _media_type(event)
    if media and media not in _JSON_TYPES:
        raise _Refused(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the request body as application/json."
        )
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("byte order mark")
        parsed = json.loads(text, parse_float=Decimal, parse_int=_bounded_int, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused(HTTPStatus.BAD_REQUEST, "invalid_json", "The request body is not valid JSON.") from None
    if _depth(parsed, _MAX_DEPTH) > _MAX_DEPTH:
        raise _Refused(HTTPStatus.BAD_REQUEST, "invalid_json", "The request body nests too deeply.")
    return text


def _content_type(event: Mapping[str, Any]) -> str:
    """The Content-Type header as sent ("" without one), whatever the case of its name."""
    headers = (event.get("headers") or {}).items()
    return next((str(value) for name, value in headers if str(name).lower() == "content-type"), "")


def _media_type(event: Mapping[str, Any]) -> str:
    """The Content-Type's media type, lower case (RFC 9110: media types are case-insensitive)."""
    return _content_type(event).split(";", 1)[0].strip().lower()


def _with_lower_case_json_type(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """``event`` with ``application/json`` in lower case however it was sent (``APPLICATION/JSON;
    charset=UTF-8``), its parameters kept: Powertools matches the media type case-sensitively and
    would answer 415 to what the guard accepted."""
    media, separator, parameters = _content_type(event).partition(";")
    if media.strip().lower() not in _JSON_TYPES:
        return event
    headers = {
        name: value for name, value in (event.get("headers") or {}).items() if str(name).lower() != "content-type"
    }
    headers["content-type"] = media.strip().lower() + separator + parameters
    return {**event, "headers": headers}


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_NUMBER_DIGITS:
        raise ValueError("number too large")
    return int(text)


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


class ApiResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver behind a guard: bodies over 64 KB (in bytes), not UTF-8, not
    JSON, or JSON that would make a parser recurse or build giant numbers are answered with the
    contract's errors before anything reads them (request validation runs ahead of every middleware,
    so the check sits here). Every answer says ``Cache-Control: no-store``: they are one user's data."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            text = _checked_json_body(event)
        except _Refused as refused:
            logger.info("Request refused", extra={"error_code": refused.code, "http_status": int(refused.status)})
            return _answer(refused.status, refused.code, refused.message)
        if text is not None:
            event = {**event, "body": text, "isBase64Encoded": False}
        answer = super().resolve(_with_lower_case_json_type(event), context)
        headers = answer.setdefault("headers", {})
        headers["Cache-Control"] = "no-store"
        return answer


def create_app() -> ApiResolver:
    """A resolver with validation and OpenAPI, the 64 KB body limit, and the contract's errors."""
    app = ApiResolver(enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response:
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return error_response(HTTPStatus.BAD_REQUEST, "invalid_json", "The request body is not valid JSON.")
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_error",
            "The request is not valid. Check the highlighted fields.",
            _validation_details(exc),
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_type(exc: RequestUnsupportedContentType) -> Response:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the request body as application/json."
        )

    @app.exception_handler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response:
        status = _DOMAIN_STATUS.get(type(exc), HTTPStatus.BAD_REQUEST)
        logger.info("Request refused", extra={"error_code": exc.code, "http_status": int(status)})
        return error_response(status, exc.code, exc.message, exc.details)

    @app.exception_handler(InvoiceCloudError)
    def _invoice_cloud(exc: InvoiceCloudError) -> Response:
        timeout = isinstance(exc, InvoiceCloudTimeoutError)
        # Not IC's message: its validation text may quote what we sent (names, addresses).
        logger.warning("Invoice Cloud failed", extra={"error_type": type(exc).__name__, "ic_status": exc.status})
        return error_response(
            HTTPStatus.GATEWAY_TIMEOUT if timeout else HTTPStatus.BAD_GATEWAY,
            "invoice_cloud_unavailable",
            "Invoice Cloud could not start the payment right now. No money was taken; "
            "please try again in a few minutes.",
        )

    @app.exception_handler(StoreUnavailableError)
    def _store(exc: StoreUnavailableError) -> Response:
        logger.warning("Storage unavailable", extra={"error_type": type(exc.__cause__).__name__})
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable", "The service is busy. Please try again in a moment."
        )

    @app.exception_handler(NotFoundError)
    def _no_route(exc: NotFoundError) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "There is nothing at this address.")

    @app.exception_handler(ConfigurationError)
    def _misconfigured(exc: ConfigurationError) -> Response:
        # The message names settings or secrets, never their values.
        logger.error("Configuration error", extra={"reason": str(exc)})
        return _internal_error()

    @app.exception_handler(ResponseValidationError)
    def _bad_response(exc: ResponseValidationError) -> Response:
        # Locations and types only: the invalid response may hold payer data.
        logger.error(
            "Response failed validation", extra={"errors": [[e.get("loc"), e.get("type")] for e in exc.errors()]}
        )
        return _internal_error()

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Where it failed, not the message: messages (pydantic's among them) can quote payer data.
        frames = traceback.extract_tb(exc.__traceback__)[-6:]
        where = [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in frames]
        logger.error("Unexpected error", extra={"error_type": type(exc).__name__, "where": where})
        return _internal_error()

    return app
