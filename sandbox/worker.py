"""One execution environment of one function, as Lambda runs it: ``python -m sandbox.worker``, started
and fed by :mod:`sandbox.functions`, imports that function's handler module alone (its init), then
handles one event at a time, for as long as the sandbox sends events.

The protocol, one JSON document a line:

- requests come on standard input: ``{"event": ..., "requestId": "...", "clockOffsetSeconds": 0.0}``;
- answers go to the file descriptor ``--reply-fd``: first ``{"type": "ready", "initMs": ...}`` (or
  ``{"type": "initError", ...}``, and the worker exits), then for each request either
  ``{"type": "result", "result": ...}`` or ``{"type": "error", "errorType": ..., "errorMessage": ...,
  "stackTrace": [...]}``, the shape of Lambda's own error answers.

Standard output and standard error are the function's log, as in Lambda: the sandbox reads them line
by line and logs each line as ``sandbox.worker.<Function>``. The worker runs in a process group of
its own and ignores SIGINT besides (Ctrl-C in the terminal is for the sandbox, which stops its
workers itself), exits when its
standard input closes (the sandbox stopping, or dying), and exits on its own when its parent process
is gone (a worker busy with a long invocation while the sandbox is killed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from stackdef.functions import LambdaContext, import_handler_module

PARENT_POLL_SECONDS = 0.5


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.worker")
    parser.add_argument("--function", required=True, help="the function's logical id")
    parser.add_argument("--code-dir", required=True, type=Path)
    parser.add_argument("--handler", required=True, help="e.g. app.lambda_handler")
    parser.add_argument("--timeout", required=True, type=float, help="seconds an invocation may run")
    parser.add_argument("--memory", type=int, default=128, help="MemorySize, for the context")
    parser.add_argument("--reply-fd", required=True, type=int)
    return parser.parse_args(argv)


def _watch_parent(parent: int) -> None:
    """Exit as soon as the process that started this one is gone (it was killed, not stopped)."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _send(replies: IO[bytes], message: dict[str, Any]) -> None:
    replies.write(json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n")
    replies.flush()


def _error(exc: BaseException) -> dict[str, Any]:
    """Lambda's answer for an unhandled exception, which Lambda also logs as ``[ERROR] ...``."""
    stack = traceback.format_tb(exc.__traceback__)
    print(f"[ERROR] {type(exc).__name__}: {exc}", "".join(["Traceback (most recent call last):\n", *stack]).rstrip(),
          file=sys.stderr, sep="\n", flush=True)  # fmt: skip
    return {"type": "error", "errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": stack}


def _invoke(handler: Callable[[Any, Any], Any], request: dict[str, Any], options: argparse.Namespace) -> dict[str, Any]:
    from avocette import clock  # noqa: PLC0415 - the layer, after the function's own init imported it

    clock.set_offset(timedelta(seconds=float(request.get("clockOffsetSeconds") or 0)))
    context = LambdaContext(
        function_name=options.function,
        timeout_seconds=options.timeout,
        memory_limit_in_mb=options.memory,
        aws_request_id=str(request["requestId"]),
        log_group_name=f"/aws/lambda/{options.function}",
        log_stream_name=f"sandbox/{os.getpid()}",
    )
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        return _error(exc)
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        return {"type": "error", "errorType": "Runtime.MarshalError", "errorMessage": message}
    return {"type": "result", "result": result}


def main(argv: list[str] | None = None) -> int:
    options = _arguments(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(os.getppid())
    # The requests arrive on fd 0; the function gets an empty standard input, as in Lambda.
    requests = os.fdopen(os.dup(0), "rb")
    empty = os.open(os.devnull, os.O_RDONLY)
    os.dup2(empty, 0)
    os.close(empty)
    replies = os.fdopen(options.reply_fd, "wb")
    sys.path.insert(0, str(options.code_dir))  # the function's own directory, as LAMBDA_TASK_ROOT is

    started = time.monotonic()
    try:
        module = import_handler_module(options.function, options.code_dir, options.handler)
        handler = getattr(module, options.handler.rpartition(".")[2])
    except Exception as exc:
        error = _error(exc)
        _send(replies, {**error, "type": "initError"})
        return 1
    _send(replies, {"type": "ready", "initMs": round((time.monotonic() - started) * 1000)})

    try:
        for line in requests:
            _send(replies, _invoke(handler, json.loads(line), options))
    except BrokenPipeError:  # the sandbox is gone
        return 1
    return 0  # standard input closed: the sandbox is stopping


def _exit(code: int) -> None:
    """Exit without the interpreter's slow clean-up (Lambda does not run it either)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
