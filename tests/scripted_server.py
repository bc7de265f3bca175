"""A tiny HTTP server that answers from a script and records what it was sent (client tests)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.serving import RunningServer, start_server


@dataclass
class Answer:
    status: int = 200
    body: str | bytes = ""
    content_type: str = "application/json"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    answers: deque[Answer] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: RunningServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.received.append(Received(request.method, request.path, dict(request.headers), request.get_data()))
            answer = self.answers.popleft() if self.answers else Answer(500, "no answer scripted", "text/plain")
        if answer.delay:
            time.sleep(answer.delay)
        response = Response(answer.body, status=answer.status, content_type=answer.content_type)
        response.headers.extend(answer.headers)
        return response(environ, start_response)


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    scripted.server = start_server(scripted, 0, name="scripted")
    try:
        yield scripted
    finally:
        scripted.server.stop()
