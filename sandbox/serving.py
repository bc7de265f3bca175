"""Serving a WSGI app on 127.0.0.1 in a background thread, for the sandbox and the tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["RunningServer", "free_port", "start_server"]

LOOPBACK = "127.0.0.1"


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def start_server(app: Callable[..., Any], port: int, *, name: str) -> RunningServer:
    """Serve ``app`` on 127.0.0.1:``port`` (0 picks a free one), one thread per request."""
    server = make_server(LOOPBACK, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{name}", daemon=True
    )
    thread.start()
    return RunningServer(server=server, thread=thread)
