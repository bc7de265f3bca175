"""The garbage collector during a cold start (docs/performance.md, "What changed").

Everything a function makes while it loads (modules, classes, Powertools' objects) and while it
serves its first request (the AWS clients and their service models, the settings) lives as long as
the process: a collection then frees nothing and walks every young object, some 15 ms of the import
and as much of the first request. So in Lambda's runtime a function's module pauses the collector as
its first statement (:func:`pause_collector`) and resumes it either once loaded
(:func:`resume_collector`, the jobs, whose first invocation is the whole work) or after its first
invocation (:func:`resumed_after_first_call`, the API's functions, whose first request is short).
Resuming freezes what survived (``gc.freeze()``): later full collections never walk it again.

Only Lambda's runtime sets ``AWS_LAMBDA_RUNTIME_API``: the tests, the sandbox and the tools that
import a function's module keep their collector as it is (nothing paused, nothing frozen).

With SnapStart (template.yaml's parameter), every execution environment is restored from one snapshot
of a loaded function: what the load made is shared by all of them. Nothing unique is made then (the
AWS and Invoice Cloud clients, the settings and the secrets come with the first request; ids are
``uuid4``, from ``os.urandom``), but ``random``'s state would be the same everywhere: the postbacks'
retry jitter would draw the same delays in every environment. :func:`reseed_random_after_restore`
registers a reseed with the runtime's restore hook (``snapshot_restore_py``, in Lambda's Python
runtimes); without it (no SnapStart, or not in Lambda) there is nothing to reseed.
"""

from __future__ import annotations

import gc
import os
import random
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

__all__ = ["pause_collector", "reseed_random_after_restore", "resume_collector", "resumed_after_first_call"]

Handler = TypeVar("Handler", bound=Callable[..., Any])

_paused = False


def _in_lambda() -> bool:
    return "AWS_LAMBDA_RUNTIME_API" in os.environ


def pause_collector() -> None:
    """No collection while the function loads (in Lambda only)."""
    global _paused  # noqa: PLW0603 - the process's one collector, paused once
    if _in_lambda() and gc.isenabled():
        gc.disable()
        _paused = True


def resume_collector() -> None:
    """What survived the load is frozen, and the collector runs again (when it was paused here)."""
    global _paused  # noqa: PLW0603
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def resumed_after_first_call(handler: Handler) -> Handler:
    """``handler``, resuming the collector once its first invocation is over (answered or raised)."""

    @wraps(handler)
    def first_call_resumes(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            resume_collector()

    return first_call_resumes  # type: ignore[return-value]


def reseed_random_after_restore() -> bool:
    """After each SnapStart restore, ``random`` reseeded from ``os.urandom``; True when the runtime's
    restore hook took it."""
    try:
        from snapshot_restore_py import register_after_restore  # noqa: PLC0415 - in Lambda's runtimes only
    except ImportError:
        return False
    register_after_restore(random.seed)
    return True
