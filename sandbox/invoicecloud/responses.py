"""HTTP answers: the CPV2 API's JSON, the control API's JSON, SOAP/XML, and hosted pages' HTML."""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from werkzeug.wrappers import Request, Response

from sandbox.invoicecloud import pages
from sandbox.invoicecloud.config import ControlError

__all__ = [
    "FORM_MIMETYPE",
    "JSON_MIMETYPE",
    "MAX_BODY_BYTES",
    "SimulatorRequest",
    "control_error",
    "cpv2_response",
    "gateway_error",
    "html_response",
    "json_response",
    "jsonable",
    "read_json",
    "see_other",
    "soap_fault",
    "xml_response",
]

MAX_BODY_BYTES: Final = 1024 * 1024
JSON_MIMETYPE: Final = "application/json"
XML_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
FORM_MIMETYPE: Final = "application/x-www-form-urlencoded"

_PRINT_HASH: Final = base64.b64encode(hashlib.sha256(pages.PRINT_HANDLER.encode()).digest()).decode()


class SimulatorRequest(Request):
    max_content_length = MAX_BODY_BYTES


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype=JSON_MIMETYPE)


def cpv2_response(message: str, data: Any = None, status: int = 200) -> Response:
    return json_response({"Message": message, "Data": data}, status)


def control_error(error: ControlError) -> Response:
    return json_response({"error": error.error, "message": error.message}, error.status)


def read_json(request: Request, *, exact_numbers: bool = False) -> Any:
    """The JSON body (``{}`` when empty); ``exact_numbers`` reads decimals as ``Decimal``, for amounts."""
    try:
        return json.loads(request.get_data() or b"{}", parse_float=Decimal if exact_numbers else float)
    except ValueError as error:
        raise ControlError(400, "invalid_json", "The body is not valid JSON") from error


def jsonable(value: Any) -> Any:
    """The stored request with its Decimals turned back into JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def gateway_error(status: int) -> Response:
    """What a load balancer in front of Invoice Cloud answers: HTML, not the API's JSON."""
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(status, "Error")
    body = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    return Response(body, status=status, mimetype="text/html")


def xml_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type=XML_CONTENT_TYPE)


def soap_fault(message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Server</faultcode><faultstring>{xml_escape(message)}</faultstring><detail />"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )
    return xml_response(body, 500)


def html_response(body: str, status: int = 200, css_url: str = "") -> Response:
    """A hosted page with headers a payment page should carry: no caching, no sniffing, tight CSP."""
    style_sources = "'self'"
    if css_url:
        parts = urlsplit(css_url)
        style_sources += f" {parts.scheme}://{parts.netloc}"
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {style_sources}; img-src 'self' data:; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors 'none'; script-src 'unsafe-hashes' 'sha256-{_PRINT_HASH}'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def see_other(location: str) -> Response:
    response = Response("", status=303)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response
