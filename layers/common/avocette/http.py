"""The HTTP edge without a web framework: the contract's answers for an :class:`~avocette.errors.AppError`
(DESIGN §3), the body of an API Gateway event, an unexpected error logged by where it failed, and the
OpenAPI responses of a route's errors. ``avocette.web`` builds the portal's resolver on these; the
postback function, which Invoice Cloud waits on, uses them alone (nothing else to load on a cold start).
"""

from __future__ import annotations

import base64
import binascii
import json
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from avocette import SERVICE_NAME
from avocette.errors import AppError

__all__ = [
    "ERROR_SCHEMA",
    "MAX_BODY_BYTES",
    "answer",
    "error_answer",
    "error_body",
    "event_body",
    "log_error",
    "log_unexpected",
    "openapi_error_responses",
]

logger = Logger(service=SERVICE_NAME, child=True)

MAX_BODY_BYTES = 64 * 1024
_JSON = "application/json"

# The contract's error answer, for the OpenAPI document.
ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A snake_case code."},
        "message": {"type": "string", "description": "Text a payer can read."},
        "details": {"description": "For validation errors: which fields, and why; for a 429, retryAt."},
    },
}


def error_body(error: AppError) -> dict[str, Any]:
    """``{"error", "message"}``, with ``details`` when the error has some."""
    body: dict[str, Any] = {"error": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return body


def answer(status: int, body: str, *, content_type: str = _JSON) -> dict[str, Any]:
    """An API Gateway (HTTP API) answer; every one says ``no-store``: they are one caller's data."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, "Cache-Control": "no-store"},
        "body": body,
        "isBase64Encoded": False,
    }


def error_answer(error: AppError, *, logged: bool = False) -> dict[str, Any]:
    """The contract's answer for ``error``, logged as its class says (unless the caller did)."""
    if not logged:
        log_error(error)
    return answer(error.status, json.dumps(error_body(error), separators=(",", ":")))


def log_error(error: AppError) -> None:
    """One line per answered error: its code and status, and what the class adds (never its input)."""
    extra = {"error_code": error.code, "http_status": error.status, **error.log_extra()}
    if error.log_level == "info":
        logger.info("Request refused", extra=extra)
    elif error.log_level == "warning":
        logger.warning("Dependency failed", extra=extra)
    else:
        logger.error("Request failed", extra=extra)


def log_unexpected(exc: BaseException) -> None:
    """Where it failed, not the message: messages (pydantic's among them) can quote payer data."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    where = [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in frames]
    logger.error("Unexpected error", extra={"error_type": type(exc).__name__, "where": where})


def event_body(event: Mapping[str, Any]) -> bytes | None:
    """The body's bytes as sent (API Gateway passes binary ones in base64); ``None`` when the base64
    cannot be read."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    return str(raw).encode("utf-8", errors="surrogateescape")


def openapi_error_responses(raised: Iterable[type[AppError]]) -> dict[int, dict[str, Any]]:
    """The OpenAPI responses of the errors a route raises, by status: each status describes its codes
    (``payment_not_found``: That payment was not found.) with the contract's error body."""
    by_status: dict[int, list[type[AppError]]] = {}
    for error in raised:
        by_status.setdefault(error.status, [])
        if error not in by_status[error.status]:
            by_status[error.status].append(error)
    return {
        status: {
            "description": " ".join(f"`{error.code}`: {error.default_message}" for error in errors),
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
        }
        for status, errors in sorted(by_status.items())
    }
