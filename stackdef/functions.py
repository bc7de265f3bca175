"""Importing a function's handler module as Lambda would, and the context Lambda passes it."""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the sandbox's workers import this module, and need no YAML
    from stackdef.template import FunctionSpec

__all__ = ["LambdaContext", "import_handler_module", "load_module", "module_name"]

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"


def module_name(logical_id: str) -> str:
    """The name a function's handler module is imported under (every function's file is app.py)."""
    return f"avocette_function_{logical_id}"


def import_handler_module(logical_id: str, code_dir: Path, handler: str) -> ModuleType:
    """Import the module of ``handler`` (``app.lambda_handler``) from ``code_dir``, once per process,
    under a name of its own."""
    module_file, _, _ = handler.rpartition(".")
    name = module_name(logical_id)
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, code_dir / f"{module_file}.py")
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot load {code_dir}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_module(spec: FunctionSpec) -> ModuleType:
    """A function's handler module (each function's file is app.py, so each gets a name of its own)."""
    return import_handler_module(spec.logical_id, spec.code_dir, spec.handler)


@dataclass
class LambdaContext:
    """What Lambda passes a handler as ``context`` (the attributes Powertools and the functions read)."""

    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/sandbox"
    log_stream_name: str = "sandbox"
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))
