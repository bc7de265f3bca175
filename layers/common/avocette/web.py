"""The HTTP edge shared by the portal's API functions: the resolver behind its request guard, the
caller's claims, the one handler that maps the error tree (``avocette.errors``) to the contract's
``{"error", "message"}`` answers (DESIGN §3), and each route's OpenAPI error responses derived from
the errors it raises."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from avocette import errors, http
from avocette.domain.common import Caller
from avocette.errors import AppError

__all__ = ["PORTAL_ERRORS", "ApiResolver", "Caller", "create_app", "current_caller", "error_response", "responses"]

# What every portal route can answer besides its own: the gateway's 401, the request guard's 400, 413
# and 415 (every route reads a body if one is sent), 422 validation, 503 when storage fails.
PORTAL_ERRORS: tuple[type[AppError], ...] = (
    errors.UnauthorizedError,
    errors.InvalidJsonError,
    errors.PayloadTooLargeError,
    errors.UnsupportedMediaTypeError,
    errors.RequestValidationFailedError,
    errors.StoreUnavailableError,
)


def responses(*raised: type[AppError], ok: Mapping[int, str] | None = None) -> dict[int, Any]:
    """A portal route's OpenAPI responses: its success answers (``ok``: status -> description; the body
    is the route's return type) and every error it can answer, from the error classes it raises."""
    found: dict[int, Any] = {
        status: {"description": text} for status, text in (ok or {200: "Successful Response"}).items()
    }
    found.update(http.openapi_error_responses([*PORTAL_ERRORS, *raised]))
    return found


def error_response(error: AppError, *, logged: bool = False) -> Response:
    """The contract's answer for ``error`` (logged as its class says, unless the caller did)."""
    if not logged:
        http.log_error(error)
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON, body=http.error_body(error))


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
    """The body as JSON text a payer's browser could have sent, or why not (a :class:`RequestError`).

    Checked before Powertools reads it: the size in bytes (64 KB), UTF-8, a JSON content type, JSON
    that parses without recursion or giant numbers, and no deeper than 32 levels."""
    raw = event.get("body")
    if not raw:
        return None
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode("utf-8")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise errors.InvalidJsonError() from None
    if len(data) > http.MAX_BODY_BYTES:
        raise errors.PayloadTooLargeError()
    media = _media_type(event)
    if media and media not in _JSON_TYPES:
        raise errors.UnsupportedMediaTypeError()
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("byte order mark")
        parsed = json.loads(text, parse_float=Decimal, parse_int=_bounded_int, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise errors.InvalidJsonError() from None
    if _depth(parsed, _MAX_DEPTH) > _MAX_DEPTH:
        raise errors.InvalidJsonError("The request body nests too deeply.")
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
        except errors.RequestError as refused:
            return http.error_answer(refused)
        if text is not None:
            event = {**event, "body": text, "isBase64Encoded": False}
        answer = super().resolve(_with_lower_case_json_type(event), context)
        headers = answer.setdefault("headers", {})
        headers["Cache-Control"] = "no-store"
        return answer


def create_app() -> ApiResolver:
    """A resolver with validation and OpenAPI, the 64 KB body limit, and the contract's errors: one
    handler for the error tree, and the framework's own refusals turned into it."""
    app = ApiResolver(enable_validation=True, response_validation_error_http_code=500)

    @app.exception_handler(AppError)
    def _app_error(exc: AppError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response:
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return error_response(errors.InvalidJsonError())
        return error_response(errors.RequestValidationFailedError(details=_validation_details(exc)))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_type(exc: RequestUnsupportedContentType) -> Response:
        return error_response(errors.UnsupportedMediaTypeError())

    @app.exception_handler(NotFoundError)
    def _no_route(exc: NotFoundError) -> Response:
        return error_response(errors.RouteNotFoundError())

    @app.exception_handler(ResponseValidationError)
    def _bad_response(exc: ResponseValidationError) -> Response:
        # Locations and types only: the invalid response may hold payer data.
        http.logger.error(
            "Response failed validation", extra={"errors": [[e.get("loc"), e.get("type")] for e in exc.errors()]}
        )
        return error_response(errors.AppError(), logged=True)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        http.log_unexpected(exc)
        return error_response(errors.AppError(), logged=True)

    return app
