"""POST /postback/{paymentId}/{token}: Invoice Cloud's payment result (DESIGN §3, §6c). No JWT: the
token in the path authenticates the call, and is checked before the body is decoded or anything
is read. This is what Invoice Cloud waits on, so it is a plain handler: no web framework to load
on a cold start, one use case to call, and the contract's answers written here."""

import base64
import binascii
import json
import traceback
from pathlib import Path
from typing import Any

from avocette import SERVICE_NAME
from avocette.config import ConfigurationError
from avocette.domain import errors
from avocette.service import postbacks
from avocette.store.table import StoreUnavailableError
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service=SERVICE_NAME)
metrics = Metrics()

MAX_BODY_BYTES = 64 * 1024
_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
_STATUS = {
    errors.InvalidTokenError: 403,
    errors.PaymentNotFoundError: 404,
    errors.InvalidPostbackError: 400,
}

# The route as the OpenAPI document describes it (this function has no resolver to describe it).
OPENAPI_PATHS: dict[str, Any] = {
    "/postback/{paymentId}/{token}": {
        "post": {
            "summary": "Invoice Cloud postback (form-encoded body, or query string)",
            "operationId": "invoice_cloud_postback",
            "security": [],
            "parameters": [
                {"name": "paymentId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}},
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}},
            ],
            "requestBody": {
                "required": False,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "Applied, duplicate or recorded for review: do not retry.",
                    "content": {"text/plain": {"schema": {"type": "string", "const": "OK"}}},
                },
                "400": {"description": "invalid_postback: a good token, an unreadable postback (recorded for review)."},
                "403": {"description": "invalid_token: nothing was read or written."},
                "404": {"description": "payment_not_found: a good token for no payment (data loss; alarmed)."},
                "413": {"description": "payload_too_large: the body is larger than 64 KB."},
                "503": {"description": "service_unavailable: storage kept failing; send it again."},
            },
        }
    }
}


def _answer(status: int, code: str, message: str) -> dict[str, Any]:
    body = json.dumps({"error": code, "message": message}, separators=(",", ":"))
    return {"statusCode": status, "headers": dict(_HEADERS), "body": body, "isBase64Encoded": False}


def _body(event: dict[str, Any]) -> bytes | None:
    """The body's bytes as Invoice Cloud sent them (API Gateway passes binary ones in base64)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    return raw.encode("utf-8", errors="surrogateescape")


def handle_postback(event: dict[str, Any]) -> dict[str, Any]:
    parameters = event.get("pathParameters") or {}
    payment_id, token = str(parameters.get("paymentId", "")), str(parameters.get("token", ""))
    body = _body(event)
    if body is not None and len(body) > MAX_BODY_BYTES:
        return _answer(413, "payload_too_large", "The request body is larger than 64 KB.")
    try:
        postbacks.receive_postback(
            payment_id=payment_id,
            token=token,
            source_ip=((event.get("requestContext") or {}).get("http") or {}).get("sourceIp"),
            body=body if body is not None else b"\xff",  # undecodable base64: not a readable body
            query=event.get("queryStringParameters") or {},
        )
    except errors.DomainError as exc:
        return _answer(_STATUS.get(type(exc), 400), exc.code, exc.message)
    except StoreUnavailableError:
        logger.warning("Storage unavailable", extra={"payment_id": payment_id})
        return _answer(503, "service_unavailable", "The service is busy. Please try again in a moment.")
    except ConfigurationError as exc:
        logger.error("Configuration error", extra={"reason": str(exc)})
        return _answer(500, "internal_error", "Something went wrong on our side. Please try again later.")
    except Exception as exc:
        # Where it failed, not the message: messages can quote what was received.
        frames = traceback.extract_tb(exc.__traceback__)[-6:]
        where = [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in frames]
        logger.error("Unexpected error", extra={"error_type": type(exc).__name__, "where": where})
        return _answer(500, "internal_error", "Something went wrong on our side. Please try again later.")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "text/plain", "Cache-Control": "no-store"},
        "body": "OK",
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_postback(event)
