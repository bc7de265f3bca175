"""The OpenAPI document of the whole HTTP API, merged from each function's Powertools resolver."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from stackdef.functions import load_module
from stackdef.template import function_specs

__all__ = ["build_openapi_document", "openapi_text"]

TITLE = "avocette-payments"
VERSION = "1.0.0"
DESCRIPTION = (
    "Pay Avocette utility bills through Invoice Cloud's hosted payment page. Portal routes need the "
    "portal's ID token as a bearer token; the postback route is for Invoice Cloud and is authenticated "
    'by the token in its path. Errors answer {"error": code, "message": text}.'
)


# The contract's errors, {"error": code, "message": text}, that each portal route can answer besides
# what its resolver declares (422 validation, 500): the gateway's 401, the request guard's 400, 413 and
# 415 (every route reads a body if one is sent), 503 when storage fails, and each route's own.
# tests/security/test_contract.py fuzzes every route and fails on any status not listed here.
_EVERY_PORTAL_ROUTE = {
    401: "No valid bearer token (`unauthorized`).",
    400: "The body is not valid JSON (`invalid_json`).",
    413: "The body is larger than 64 KB (`payload_too_large`).",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    503: "Storage is busy; try again (`service_unavailable`).",
}
ERROR_RESPONSES: dict[tuple[str, str], dict[int, str]] = {
    ("get", "/accounts"): {403: "No linked account yet (`registration_required`)."},
    ("get", "/payments"): {},
    ("get", "/payments/{paymentId}"): {404: "No such payment of this user (`payment_not_found`)."},
    ("post", "/payments"): {
        403: "No linked account yet (`registration_required`).",
        404: "An invoice is not on the user's linked accounts (`invoice_not_found`).",
        409: "An invoice has nothing left to pay, or is in another payment (`invoice_not_payable`, "
        "`payment_in_progress`, `request_in_progress`).",
        502: "Invoice Cloud failed (`invoice_cloud_unavailable`).",
        504: "Invoice Cloud did not answer in time (`invoice_cloud_unavailable`).",
    },
    ("get", "/registrations"): {},
    ("post", "/registrations"): {
        403: "The email address is not verified (`email_unverified`).",
        429: "Too many failed attempts; nothing was checked (`too_many_attempts`).",
    },
    ("delete", "/registrations/{accountNumber}"): {
        404: "The account is not linked to this user (`account_not_found`)."
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A snake_case code."},
        "message": {"type": "string", "description": "Text a payer can read."},
        "details": {"description": "For validation errors: which fields, and why."},
    },
}


def _add_error_responses(document: dict[str, Any]) -> None:
    """Every portal operation documents the contract's errors (see :data:`ERROR_RESPONSES`)."""
    document.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if operation.get("security") == []:  # the postback route documents its own answers
                continue
            own = ERROR_RESPONSES.get((method, path))
            if own is None:
                raise ValueError(f"{method.upper()} {path}: list its errors in stackdef.openapi.ERROR_RESPONSES")
            for status, description in sorted({**_EVERY_PORTAL_ROUTE, **own}.items()):
                operation["responses"].setdefault(str(status), {"description": description, "content": reference})


def build_openapi_document() -> dict[str, Any]:
    merger = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes={
            "portalJwt": HTTPBearer(bearerFormat="JWT", description="The portal's OpenID Connect ID token.")
        },
        security=[{"portalJwt": []}],
        on_conflict="error",
    )
    plain_paths: dict[str, Any] = {}
    for spec in function_specs():
        if not spec.routes:
            continue
        module = load_module(spec)
        resolver = getattr(module, "app", None)
        if resolver is not None and hasattr(resolver, "get_openapi_schema"):
            merger.add_schema(resolver.get_openapi_schema(title=TITLE, version=VERSION))
        else:  # a plain handler (the postback) describes its own routes
            plain_paths.update(module.OPENAPI_PATHS)
    document: dict[str, Any] = json.loads(merger.get_openapi_json_schema())
    for path, operations in plain_paths.items():
        if path in document.get("paths", {}):
            raise ValueError(f"{path} is described twice")
        document.setdefault("paths", {})[path] = operations
    _add_error_responses(document)
    return document


def openapi_text() -> str:
    return json.dumps(build_openapi_document(), indent=2, sort_keys=True) + "\n"
