"""``python -m tools openapi``: the OpenAPI document of the whole HTTP API (docs/openapi.json), as
:mod:`stackdef.openapi` builds it from each function's Powertools resolver."""

from __future__ import annotations

from stackdef.openapi import build_openapi_document, openapi_text

__all__ = ["build_openapi_document", "openapi_text"]
