"""Running the template's functions in this process, one invocation at a time.

In Lambda each execution environment handles one event at a time. Here every function shares one
process, and Powertools keeps the event being resolved on a class attribute shared by all resolvers
(``BaseRouter.current_event``), so two invocations at once, even of different functions, could read
each other's event. One lock for all functions keeps each invocation to its own event."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from sandbox.template import FunctionSpec, function_specs

__all__ = ["LambdaContext", "LocalFunction", "load_functions", "load_module"]


def load_module(spec: FunctionSpec) -> ModuleType:
    """Import a function's handler module under a name of its own (each function's file is app.py)."""
    module_file, _, _ = spec.handler.rpartition(".")
    module_name = f"avocette_function_{spec.logical_id}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    loader_spec = importlib.util.spec_from_file_location(module_name, spec.code_dir / f"{module_file}.py")
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot load {spec.code_dir}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    loader_spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/sandbox"
    log_stream_name: str = "sandbox"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


_INVOCATION_LOCK = threading.Lock()


@dataclass
class LocalFunction:
    spec: FunctionSpec
    module: ModuleType
    timeout_seconds: float
    lock: threading.Lock = field(default=_INVOCATION_LOCK)

    def invoke(self, event: dict[str, Any]) -> Any:
        handler_name = self.spec.handler.rpartition(".")[2]
        with self.lock:
            context = LambdaContext(function_name=self.spec.logical_id, timeout_seconds=self.timeout_seconds)
            return getattr(self.module, handler_name)(event, context)


def load_functions(global_timeout: float = 10.0) -> dict[str, LocalFunction]:
    """Every function of the template, imported once, by logical id."""
    functions = {}
    for spec in function_specs():
        timeout = float(spec.timeout or global_timeout)
        functions[spec.logical_id] = LocalFunction(spec=spec, module=load_module(spec), timeout_seconds=timeout)
    return functions
