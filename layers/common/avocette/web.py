"""The HTTP edge shared by every API function: the resolver, the caller's claims, and the one
mapping of typed errors to the contract's ``{"error", "message"}`` answers (DESIGN §3)."""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
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


class ApiResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver, refusing bodies over 64 KB before anything reads them
    (request validation runs ahead of every middleware, so the check sits here)."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        body = event.get("body") or ""
        limit = MAX_BODY_BYTES * 4 // 3 + 4 if event.get("isBase64Encoded") else MAX_BODY_BYTES
        if len(body) > limit:
            return {
                "statusCode": int(HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
                "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps(
                    {"error": "payload_too_large", "message": "The request body is larger than 64 KB."},
                    separators=(",", ":"),
                ),
                "isBase64Encoded": False,
            }
        return super().resolve(event, context)


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
