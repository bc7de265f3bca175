"""docs/security.md's actors table against template.yaml: the routes a payer reaches are the API's
authorized routes, no more and no fewer, and the S3 prefixes it names are the ones the functions read."""

from __future__ import annotations

import re
from pathlib import Path

from stackdef.template import function_specs, load_template

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
_ROUTE = re.compile(r"`((?:GET|POST|PUT|PATCH|DELETE) /[^`]*)`")


def _actor_row(actor: str) -> str:
    return "\n".join(line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith(f"| {actor} |"))


def test_the_payers_routes_are_the_apis_authorized_routes() -> None:
    listed = set(_ROUTE.findall(_actor_row("portal user (payer)")))
    authorized = {route.route_key for spec in function_specs() for route in spec.routes if route.authorized}
    assert listed == authorized


def test_every_route_without_a_token_has_its_actor() -> None:
    table = DOC.read_text(encoding="utf-8").split("## Actors and entry points")[1].split("\n## ")[0]
    listed = set(_ROUTE.findall(table))
    unauthorized = {route.route_key for spec in function_specs() for route in spec.routes if not route.authorized}
    assert unauthorized <= listed
    authorized = {route.route_key for spec in function_specs() for route in spec.routes if route.authorized}
    assert listed <= unauthorized | authorized, "a route the template does not have"


def test_the_s3_prefixes_named_are_the_ones_the_functions_are_triggered_by() -> None:
    prefixes = {prefix for spec in function_specs() for _bucket, prefix, _suffix in spec.s3_events}
    for actor in ("the biller", "Invoice Cloud's payment file"):
        row = _actor_row(actor)
        for named in re.findall(r"`([a-z-]+/)`", row):
            assert named in prefixes | {"exports/"}, f"{actor}: {named} is no prefix of the template"
    assert "invoicecloud/" in _actor_row("Invoice Cloud's payment file")
    assert "exports/" in str(load_template()["Resources"]["ExportPaymentsFunction"])
