"""Serving a WSGI app on 127.0.0.1 in a background thread, for the sandbox and the tests."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = [
    "HTML_DEFAULT_CSP",
    "RunningServer",
    "free_port",
    "start_server",
    "with_chunked_body_read",
    "with_security_headers",
]

LOOPBACK = "127.0.0.1"

# What every answer of the sandbox's servers carries unless the app chose otherwise: no caching (the
# answers are one user's data or one payer's page), no content sniffing, no Referer (URLs carry ids).
DEFAULT_HEADERS: Final = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
# An HTML page without a policy of its own (an error page) may load nothing, run nothing, post nowhere.
HTML_DEFAULT_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: request lines carry query strings, and postback tokens live there."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class RunningServer:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _secured(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    present = {name.lower(): index for index, (name, _) in enumerate(headers)}
    secured = list(headers)
    for name, value in DEFAULT_HEADERS:
        if name.lower() not in present:
            secured.append((name, value))
    content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
    if content_type.split(";", 1)[0].strip().lower() == "text/html":
        index = present.get("content-security-policy")
        if index is None:
            secured.append(("Content-Security-Policy", HTML_DEFAULT_CSP))
        elif "frame-ancestors" not in secured[index][1]:
            # No page of the sandbox is meant to be framed: clickjacking a payment page is the risk.
            name, policy = secured[index]
            secured[index] = (name, f"{policy.rstrip('; ')}; frame-ancestors 'none'")
    return secured


def with_security_headers(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` answering with :data:`DEFAULT_HEADERS` where it set none of its own, and every HTML
    page with a Content-Security-Policy that includes ``frame-ancestors``."""

    def secured_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def secured_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, _secured(headers), exc_info)

        result: Iterable[bytes] = app(environ, secured_start)
        return result

    return secured_app


_MALFORMED_CHUNKS: Final = json.dumps(
    {"error": "bad_request", "message": "The request body's chunked encoding is malformed."}
).encode()


def with_chunked_body_read(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` with a chunked request body read before it runs: the dev server decodes chunks as the app
    reads, and a malformed size line (``zz``, ``-2``) then raised inside the app, a 500 with a traceback.
    Now it is a 400 in the gateway's JSON, and the connection closes: what follows is not a request."""

    def reading_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # The dev server marks a chunked body, which it decodes itself, as terminated by the stream.
        if not environ.get("wsgi.input_terminated"):
            result: Iterable[bytes] = app(environ, start_response)
            return result
        try:
            body = environ["wsgi.input"].read()
        except OSError:  # werkzeug's DechunkedInput: "Invalid chunk header", "Negative chunk length"
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(_MALFORMED_CHUNKS))),
                    ("Connection", "close"),
                ],
            )
            return [_MALFORMED_CHUNKS]
        environ["wsgi.input"] = io.BytesIO(body)
        result = app(environ, start_response)
        return result

    return reading_app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def start_server(app: Callable[..., Any], port: int, *, name: str, security_headers: bool = True) -> RunningServer:
    """Serve ``app`` on 127.0.0.1:``port`` (0 picks a free one), one thread per request, chunked bodies
    read first (:func:`with_chunked_body_read`), with the headers of :func:`with_security_headers`
    unless ``security_headers`` is false (moto's server: S3 would report them as the objects' own
    metadata)."""
    served = with_chunked_body_read(app)
    if security_headers:
        served = with_security_headers(served)
    server = make_server(LOOPBACK, port, served, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{name}", daemon=True
    )
    thread.start()
    return RunningServer(server=server, thread=thread)
