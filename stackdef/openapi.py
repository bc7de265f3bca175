"""The OpenAPI document of the whole HTTP API, merged from each function's Powertools resolver."""

from __future__ import annotations

import json
from typing import Any

from avocette.http import ERROR_SCHEMA
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


def _add_error_schema(document: dict[str, Any]) -> None:
    """The contract's error answer, which every operation's error responses name (each route lists
    the errors it raises: ``web.responses``, the postback's ``RAISES``)."""
    document.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA


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
    _add_error_schema(document)
    return document


def openapi_text() -> str:
    return json.dumps(build_openapi_document(), indent=2, sort_keys=True) + "\n"
