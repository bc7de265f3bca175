"""The local HTTP API: template.yaml's routes in front of the functions, with the checks and event
shape of API Gateway's HTTP API (payload 2.0, JWT authorizer, CORS), plus the sandbox's own
``/dev/*`` helpers, ``/openapi.json`` and the demo portal."""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.functions import FunctionError, FunctionPool
from sandbox.issuer import LocalIssuer, TokenRejectedError
from stackdef.portal import PORTAL_CONTENT_TYPES, PORTAL_CSP, PORTAL_DIR

__all__ = ["Gateway", "GatewayRoute"]

log = logging.getLogger("sandbox.gateway")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # HTTP API's own limit; the functions enforce 64 KB
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")


@dataclass(frozen=True)
class GatewayRoute:
    method: str
    path: str  # API Gateway form, e.g. /payments/{paymentId}
    authorized: bool
    function: FunctionPool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def _werkzeug_path(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


@dataclass
class Cors:
    allow_origins: tuple[str, ...]
    allow_headers: tuple[str, ...]
    allow_methods: tuple[str, ...]
    max_age: int

    def allowed_origin(self, origin: str | None) -> str | None:
        if origin and ("*" in self.allow_origins or origin in self.allow_origins):
            return origin
        return None


class Gateway:
    """A WSGI app. ``extra_routes`` are sandbox-only handlers such as ``/dev/mailbox``, by path; a path
    ending in ``/*`` takes every path below it (``/dev/run/*``)."""

    def __init__(
        self,
        routes: Iterable[GatewayRoute],
        issuer: LocalIssuer,
        cors: Cors,
        *,
        openapi: Callable[[], dict[str, Any]],
        extra_routes: dict[str, Callable[[Request], Response]] | None = None,
    ) -> None:
        self.routes = list(routes)
        self.issuer = issuer
        self.cors = cors
        self._openapi = openapi
        self._extra = {"/dev/token": self._dev_token, "/openapi.json": self._openapi_document, **(extra_routes or {})}
        self._by_key = {route.route_key: route for route in self.routes}
        self._map = Map(
            [
                Rule(_werkzeug_path(route.path), methods=[route.method], endpoint=route.route_key)
                for route in self.routes
            ],
            strict_slashes=False,
        )

    # ---- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        response = self._dispatch(request)
        origin = self.cors.allowed_origin(request.headers.get("Origin"))
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        log.info(
            "%s -> %s (%d ms)",
            self._log_label(request),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return self._preflight(request)
        extra = self._extra_route(request.path)
        if extra is not None:
            return extra(request)
        adapter = self._map.bind_to_environ(request.environ)
        try:
            route_key, path_parameters = adapter.match()
        except HTTPException:
            # API Gateway answers any request that matches no route, whatever the method, with 404.
            if request.method == "GET":
                return self._static(request.path)
            return _json(404, {"message": "Not Found"})
        return self._invoke(self._by_key[route_key], dict(path_parameters), request)

    def _log_label(self, request: Request) -> str:
        """What the access log names: a route's key (``POST /postback/{paymentId}/{token}``), never the
        path it was called with (a postback token, a statement link, an account or invoice number may be
        part of it), nor the query string."""
        try:
            route_key, _ = self._map.bind_to_environ(request.environ).match()
        except HTTPException:
            if self._extra_route(request.path) is not None:
                return f"{request.method} {request.path}"  # the sandbox's own pages: no ids in their paths
            # Tokens, account and invoice numbers live in the API's paths: one that matches no route is
            # named by its first segment alone.
            first, more = request.path.lstrip("/").partition("/")[::2]
            return f"{request.method} /{first}{'/...' if more else ''}"
        return str(route_key)

    def _extra_route(self, path: str) -> Callable[[Request], Response] | None:
        if path in self._extra:
            return self._extra[path]
        for pattern, handler in self._extra.items():
            if pattern.endswith("/*") and path.startswith(pattern[:-1]) and len(path) > len(pattern) - 1:
                return handler
        return None

    def _preflight(self, request: Request) -> Response:
        origin = self.cors.allowed_origin(request.headers.get("Origin"))
        method = (request.headers.get("Access-Control-Request-Method") or "").upper()
        if not origin or method not in self.cors.allow_methods:
            return Response(status=204)
        wanted = [h.strip().lower() for h in (request.headers.get("Access-Control-Request-Headers") or "").split(",")]
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ",".join(self.cors.allow_methods)
        response.headers["Access-Control-Allow-Headers"] = ",".join(h for h in wanted if h in self.cors.allow_headers)
        response.headers["Access-Control-Max-Age"] = str(self.cors.max_age)
        return response

    # ---- the functions ------------------------------------------------------------------------

    def _invoke(self, route: GatewayRoute, path_parameters: dict[str, str], request: Request) -> Response:
        body = request.get_data(cache=False)
        if len(body) > MAX_PAYLOAD_BYTES:
            return _json(413, {"message": "Request Entity Too Large"})
        claims = None
        if route.authorized:
            try:
                claims = self.issuer.verify(request.headers.get("Authorization"))
            except TokenRejectedError:
                # API Gateway answers {"message": "Unauthorized"}; the contract's code rides along.
                response = _json(401, {"error": "unauthorized", "message": "Unauthorized"})
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        event = _http_api_event(route, path_parameters, request, body, claims)
        try:
            result = route.function.invoke(event)
        except FunctionError:
            # What API Gateway answers when its Lambda integration fails (raised, timed out, crashed).
            return _json(500, {"message": "Internal Server Error"})
        return _lambda_response(result)

    # ---- sandbox-only helpers -----------------------------------------------------------------

    def _dev_token(self, request: Request) -> Response:
        if request.method != "GET":
            return _json(405, {"error": "method_not_allowed", "message": "GET /dev/token?sub=..."})
        sub = (request.args.get("sub") or "").strip()
        if not sub:
            return _json(400, {"error": "validation_error", "message": "Give ?sub=<user id>."})
        verified = (request.args.get("email_verified") or "true").lower() != "false"
        token = self.issuer.issue(sub, request.args.get("email") or None, email_verified=verified)
        return _json(200, {"token": token, "sub": sub, "expiresIn": self.issuer.lifetime_seconds})

    def _openapi_document(self, request: Request) -> Response:
        return _json(200, self._openapi())

    def _static(self, path: str) -> Response:
        relative = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (PORTAL_DIR / relative).resolve()
        if PORTAL_DIR.resolve() not in target.parents or not target.is_file():
            return _json(404, {"message": "Not Found"})
        content_type = PORTAL_CONTENT_TYPES.get(target.suffix.lower()) or (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        response = Response(target.read_bytes(), content_type=content_type)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = PORTAL_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _joined_headers(headers: Headers) -> dict[str, str]:
    """Lower-case names, repeated headers joined with commas (payload 2.0); cookies go elsewhere."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key == "cookie":
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _http_api_event(
    route: GatewayRoute,
    path_parameters: dict[str, str],
    request: Request,
    body: bytes,
    claims: dict[str, Any] | None,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    headers = _joined_headers(request.headers)
    query: dict[str, str] = {}
    for name, value in request.args.items(multi=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    request_context: dict[str, Any] = {
        "accountId": "000000000000",
        "apiId": "sandbox",
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": uuid.uuid4().hex,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": LocalIssuer.as_authorizer_claims(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if request.cookies:
        event["cookies"] = [f"{name}={value}" for name, value in request.cookies.items(multi=True)]
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        content_type = headers.get("content-type", "")
        try:
            text = body.decode("utf-8")
            textual = not content_type or content_type.startswith(_TEXT_TYPES)
        except UnicodeDecodeError:
            textual = False
        if textual:
            event["body"] = text
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _lambda_response(result: Any) -> Response:
    """A payload 2.0 answer: a dict with statusCode (or, as API Gateway allows, a bare JSON value)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _json(200, result)
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response
