"""The OpenAPI document of the whole HTTP API, merged from each function's Powertools resolver."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from sandbox.functions import load_module
from sandbox.template import function_specs

__all__ = ["build_openapi_document", "openapi_text"]

TITLE = "avocette-payments"
VERSION = "1.0.0"
DESCRIPTION = (
    "Pay Avocette utility bills through Invoice Cloud's hosted payment page. Portal routes need the "
    "portal's ID token as a bearer token; the postback route is for Invoice Cloud and is authenticated "
    'by the token in its query string. Errors answer {"error": code, "message": text}.'
)


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
    for spec in function_specs():
        if not spec.routes:
            continue
        resolver = load_module(spec).app
        merger.add_schema(resolver.get_openapi_schema(title=TITLE, version=VERSION))
    document: dict[str, Any] = json.loads(merger.get_openapi_json_schema())
    return document


def openapi_text() -> str:
    return json.dumps(build_openapi_document(), indent=2, sort_keys=True) + "\n"
