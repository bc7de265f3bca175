"""The template's functions, each in execution environments of its own, as Lambda runs them.

Each function has a small pool of worker processes (:mod:`sandbox.worker`): each imports that
function's handler module alone, with that function's environment (the sandbox's AWS settings, then
template.yaml's Globals and the function's own variables, resolved), handles one event at a time, and
stays warm for the next. Concurrent invocations of one function run at once up to its pool's size and
wait for a free worker beyond it; different functions never share a process, so nothing one
invocation keeps in process-wide state (Powertools keeps the event being resolved on a class
attribute) is seen by another.

- Start: :meth:`FunctionPool.start` launches workers without waiting; their imports run in parallel,
  and :meth:`FunctionPool.wait_ready` waits for them. A pool grows to its size on demand, a worker
  for each invocation that finds none free, or at once with :meth:`FunctionPool.fill`.
- Each invocation carries the sandbox's clock offset (``POST /dev/clock``), set in the worker first.
- A worker's standard output and error (the function's JSON log lines, tracebacks) are logged line by
  line by the logger ``sandbox.worker.<Function>``, at the line's own ``level`` when it has one.
- An invocation that outlives the function's Timeout is answered with Lambda's ``Sandbox.Timedout``
  error and its worker is killed and replaced; so is a worker that dies (``Runtime.ExitError``).
- :meth:`FunctionPool.stop` closes the workers' standard input (they exit), and kills any left after
  a few seconds. Workers also exit on their own when the sandbox's process is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any

from avocette import clock

from stackdef.template import ROOT, FunctionSpec

__all__ = [
    "FunctionError",
    "FunctionPool",
    "PoolSizes",
    "lambda_variables",
    "start_pools",
    "stop_pools",
]

log = logging.getLogger("sandbox.functions")

INIT_TIMEOUT_SECONDS = 60.0  # Lambda allows 10 s; a busy laptop importing 14 workers at once needs more
STOP_GRACE_SECONDS = 5.0
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


class FunctionError(RuntimeError):
    """An invocation that failed as Lambda reports it: the function raised (``errorType`` is the
    exception's class), timed out (``Sandbox.Timedout``), its worker died (``Runtime.ExitError``),
    could not import (``Runtime.InitError``) or the sandbox is stopping (``Sandbox.Stopped``)."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class PoolSizes:
    """How many workers each function gets: ``http`` for functions with HTTP routes, ``events`` for
    the others (scheduled, S3-triggered), ``overrides`` by logical id."""

    http: int = 2
    events: int = 1
    overrides: Mapping[str, int] = field(default_factory=dict)

    def size_of(self, spec: FunctionSpec) -> int:
        size = self.overrides.get(spec.logical_id, self.http if spec.routes else self.events)
        if size < 1:
            raise ValueError(f"{spec.logical_id} needs at least one worker")
        return size


def lambda_variables(spec: FunctionSpec) -> dict[str, str]:
    """What Lambda itself sets in a function's environment (the subset the libraries read)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def _process_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """The function's environment, with the layer and the repository on the path (the layer is
    /opt/python in Lambda) and unbuffered output (log lines reach the sandbox as they are written)."""
    path = [str(ROOT / "layers" / "common"), str(ROOT)]
    if environment.get("PYTHONPATH"):
        path.append(environment["PYTHONPATH"])
    return {**environment, "PYTHONPATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1"}


class _TimedOutError(Exception):
    pass


class _DiedError(Exception):
    pass


class _Worker:
    """One worker process, and the sandbox's end of its pipes."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], logger: logging.Logger) -> None:
        self.spec = spec
        reply_read, reply_write = os.pipe()
        command = [
            sys.executable,
            "-m",
            "sandbox.worker",
            "--function",
            spec.logical_id,
            "--code-dir",
            str(spec.code_dir),
            "--handler",
            spec.handler,
            "--timeout",
            str(spec.timeout_seconds),
            "--memory",
            str(spec.memory_size),
            "--reply-fd",
            str(reply_write),
        ]
        try:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_process_environment(environment),
                cwd=ROOT,
                pass_fds=(reply_write,),
                # A group of its own: Ctrl-C in the terminal reaches the sandbox alone, which stops
                # its workers itself (a worker still importing would die of it mid-import).
                process_group=0,
            )
        except BaseException:
            os.close(reply_read)
            raise
        finally:
            os.close(reply_write)
        self._replies = reply_read
        self._read_lock = threading.Lock()  # one reader at a time; reap() closes the pipe under it
        self._reaped = False
        self._selector = selectors.DefaultSelector()
        self._selector.register(reply_read, selectors.EVENT_READ)
        self._buffer = bytearray()
        self._forwarders = [
            threading.Thread(
                target=_forward_lines,
                args=(stream, logger, level),
                name=f"{spec.logical_id}-{self.process.pid}-{name}",
                daemon=True,
            )
            for stream, name, level in (
                (self.process.stdout, "stdout", logging.INFO),
                (self.process.stderr, "stderr", logging.WARNING),
            )
        ]
        for thread in self._forwarders:
            thread.start()

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def wait_ready(self, timeout: float) -> int:
        """The milliseconds its init took; :class:`FunctionError` if it failed."""
        try:
            message = self._read(time.monotonic() + timeout)
        except _TimedOutError:
            raise FunctionError(self.spec.logical_id, "Runtime.InitError", f"init took over {timeout:.0f} s") from None
        except _DiedError:
            raise FunctionError(self.spec.logical_id, "Runtime.InitError", "the worker exited during init") from None
        if message.get("type") != "ready":
            raise FunctionError(
                self.spec.logical_id,
                "Runtime.InitError",
                f"{message.get('errorType')}: {message.get('errorMessage')}",
            )
        return int(message.get("initMs", 0))

    def invoke(self, request: bytes, timeout: float) -> dict[str, Any]:
        """Send one request (a JSON line) and wait at most ``timeout`` seconds for its answer."""
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(request)
            stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: closed by stop()
            raise _DiedError from None
        return self._read(time.monotonic() + timeout)

    def _read(self, deadline: float) -> dict[str, Any]:
        with self._read_lock:
            return self._read_locked(deadline)

    def _read_locked(self, deadline: float) -> dict[str, Any]:
        if self._reaped:
            raise _DiedError
        while (end := self._buffer.find(b"\n")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _TimedOutError
            if not self._selector.select(remaining):
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise _DiedError
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close_input(self) -> None:
        """Ask it to exit (end of its standard input) once its current event is done."""
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):  # it had exited: nothing more to tell it
                stdin.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def reap(self, timeout: float) -> None:
        """Wait for it to exit (kill it after ``timeout``), then let go of its pipes."""
        try:
            self.process.wait(timeout=max(timeout, 0))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for thread in self._forwarders:
            thread.join(timeout=2)
        self.close_input()
        with self._read_lock:  # a reader of an exited worker finishes at once (end of file)
            if not self._reaped:
                self._reaped = True
                self._selector.close()
                os.close(self._replies)


def _forward_lines(stream: IO[bytes] | None, logger: logging.Logger, default_level: int) -> None:
    """Log each line a worker writes, at its own level when it is a JSON log line with one."""
    if stream is None:
        return
    with stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.strip():
                logger.log(_level_of(line, default_level), "%s", line)


def _level_of(line: str, default: int) -> int:
    if line.startswith("[ERROR]"):  # an unhandled exception, as Lambda's runtime prints it
        return logging.ERROR
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return default
        if isinstance(record, dict) and isinstance(record.get("level"), str):
            return _LEVELS.get(record["level"].upper(), default)
    return default


class FunctionPool:
    """One function's workers (at most ``size``), each handling one event at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        size: int,
        environment: Mapping[str, str],
        clock_offset: Callable[[], timedelta] = clock.offset,
        init_timeout: float = INIT_TIMEOUT_SECONDS,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.spec = spec
        self.size = size
        self.timeout_seconds = float(spec.timeout_seconds)
        self.environment = dict(environment)
        self.logger = logging.getLogger(f"sandbox.worker.{spec.logical_id}")
        self._clock_offset = clock_offset
        self._init_timeout = init_timeout
        self._changed = threading.Condition()
        self._idle: list[_Worker] = []  # most recently used last: warm workers are taken first
        self._booting = 0
        self._busy = 0
        self._peak_busy = 0
        self._closed = False
        self._init_failures = 0
        self._last_init_error: FunctionError | None = None
        self._all: set[_Worker] = set()

    # ---- state --------------------------------------------------------------------------------

    @property
    def ready(self) -> int:
        """Workers that have finished their init (idle or busy)."""
        with self._changed:
            return len(self._idle) + self._busy

    @property
    def peak_busy(self) -> int:
        """The most invocations that have run at once so far (each in a worker of its own)."""
        with self._changed:
            return self._peak_busy

    @property
    def pids(self) -> list[int]:
        with self._changed:
            return sorted(worker.pid for worker in self._all)

    # ---- starting -----------------------------------------------------------------------------

    def start(self, count: int = 1) -> None:
        """Launch workers until ``count`` are running or starting (without waiting for their init)."""
        with self._changed:
            while not self._closed and len(self._idle) + self._busy + self._booting < min(count, self.size):
                self._launch_locked()

    def fill(self) -> None:
        """Launch workers up to the pool's size."""
        self.start(self.size)

    def wait_ready(self, count: int = 1, timeout: float | None = None) -> None:
        """Wait until ``count`` workers have finished their init; :class:`FunctionError` if none can."""
        deadline = time.monotonic() + (self._init_timeout if timeout is None else timeout)
        with self._changed:
            failures = self._init_failures
            while len(self._idle) + self._busy < min(count, self.size):
                if self._closed:
                    raise FunctionError(self.spec.logical_id, "Sandbox.Stopped", "the sandbox is stopping")
                if self._init_failures > failures and self._last_init_error is not None:
                    raise self._last_init_error
                if self._booting == 0:
                    self._launch_locked()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FunctionError(self.spec.logical_id, "Runtime.InitError", "no worker became ready in time")
                self._changed.wait(remaining)

    def _launch_locked(self) -> None:
        worker = _Worker(self.spec, self.environment, self.logger)
        self._all.add(worker)
        self._booting += 1
        threading.Thread(
            target=self._boot, args=(worker,), name=f"boot-{self.spec.logical_id}-{worker.pid}", daemon=True
        ).start()

    def _boot(self, worker: _Worker) -> None:
        try:
            init_ms = worker.wait_ready(self._init_timeout)
        except FunctionError as error:
            worker.kill()
            with self._changed:
                self._booting -= 1
                self._all.discard(worker)
                stopping = self._closed
                if not stopping:
                    self._init_failures += 1
                    self._last_init_error = error
                self._changed.notify_all()
            if not stopping:
                self.logger.error("Worker %s failed its init: %s", worker.pid, error.message)
            worker.reap(0)
            return
        log.debug("%s worker %s ready (init %d ms)", self.spec.logical_id, worker.pid, init_ms)
        with self._changed:
            self._booting -= 1
            if self._closed:
                return  # stop() reaps it
            self._idle.append(worker)
            self._changed.notify_all()

    # ---- invoking -----------------------------------------------------------------------------

    def invoke(self, event: Any) -> Any:
        """Run the function on ``event`` in a free worker (waiting for one if all are busy); its result,
        or :class:`FunctionError`."""
        request_id = str(uuid.uuid4())
        request = (
            json.dumps(
                {
                    "event": event,
                    "requestId": request_id,
                    "clockOffsetSeconds": self._clock_offset().total_seconds(),
                },
                separators=(",", ":"),
            ).encode("utf-8")
            + b"\n"
        )
        worker = self._acquire()
        try:
            answer = worker.invoke(request, self.timeout_seconds)
        except _TimedOutError:
            message = f"{request_id} Task timed out after {self.timeout_seconds:.2f} seconds"
            self.logger.error("%s", message)
            self._discard(worker)
            raise FunctionError(self.spec.logical_id, "Sandbox.Timedout", message) from None
        except _DiedError:
            code = worker.process.poll()
            self._discard(worker)
            raise FunctionError(
                self.spec.logical_id, "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited ({code})"
            ) from None
        except BaseException:
            self._discard(worker)
            raise
        self._release(worker)
        if answer.get("type") == "result":
            return answer.get("result")
        raise FunctionError(
            self.spec.logical_id, str(answer.get("errorType", "Error")), str(answer.get("errorMessage", ""))
        )

    def _acquire(self) -> _Worker:
        with self._changed:
            failures = self._init_failures
            while True:
                if self._closed:
                    raise FunctionError(self.spec.logical_id, "Sandbox.Stopped", "the sandbox is stopping")
                if self._idle:
                    worker = self._idle.pop()
                    self._busy += 1
                    self._peak_busy = max(self._peak_busy, self._busy)
                    return worker
                if self._init_failures > failures and self._last_init_error is not None and self._busy == 0:
                    raise self._last_init_error  # its init failed again: answer as Lambda does
                if self._busy + self._booting < self.size:
                    self._launch_locked()  # a cold start, as Lambda scales out
                self._changed.wait()

    def _release(self, worker: _Worker) -> None:
        with self._changed:
            self._busy -= 1
            if self._closed:
                return
            self._idle.append(worker)
            self._changed.notify_all()

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker that timed out or died; the next invocation that needs one starts another."""
        worker.kill()
        with self._changed:
            self._busy -= 1
            self._all.discard(worker)
            if not self._closed:
                self._launch_locked()  # its replacement, warm before it is needed if possible
            self._changed.notify_all()
        threading.Thread(target=worker.reap, args=(STOP_GRACE_SECONDS,), daemon=True).start()

    def recycle(self) -> None:
        """End the idle workers, as Lambda does after a change to the function's code or settings: the
        next invocation starts a fresh one, with nothing cached (a secret changed since, for one)."""
        with self._changed:
            workers, self._idle = self._idle, []
            self._all.difference_update(workers)
            self._changed.notify_all()
        for worker in workers:
            worker.close_input()
            threading.Thread(target=worker.reap, args=(STOP_GRACE_SECONDS,), daemon=True).start()

    # ---- stopping -----------------------------------------------------------------------------

    def close(self) -> list[_Worker]:
        """Stop taking invocations and ask every worker to exit; the workers, for :meth:`reap`."""
        with self._changed:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._changed.notify_all()
        for worker in workers:
            worker.close_input()
        return workers

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        stop_pools([self], timeout)


def start_pools(pools: Iterable[FunctionPool], *, count: int = 1) -> None:
    """Start ``count`` workers of every pool at once and wait for them (their imports run in parallel);
    :class:`FunctionError` (after stopping them all) if a function cannot start."""
    started = list(pools)
    for pool in started:
        pool.start(count)
    try:
        for pool in started:
            pool.wait_ready(count)
    except BaseException:
        stop_pools(started)
        raise


def stop_pools(pools: Iterable[FunctionPool], timeout: float = STOP_GRACE_SECONDS) -> None:
    """Ask every worker of every pool to exit, wait up to ``timeout`` for all, and kill the rest."""
    workers = [worker for pool in pools for worker in pool.close()]
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.reap(deadline - time.monotonic())
