"""The layer's process-wide state, and forgetting it as a cold Lambda start would: for the processes
that run the layer outside Lambda (the tests, the sandbox, the benchmarks), never the layer itself.

The layer caches what a warm Lambda reuses across invocations: its AWS clients (``store.table.dynamodb``,
``store.files.s3``, ``mail.send.ses``), the Invoice Cloud client, the idempotency store, the settings read
from the environment (every getter of ``config``), the format files (``formats.load_format`` and the
checked formats of the payment file and the export), and Powertools' cache of secrets. A process that
changes its environment or its AWS endpoint meanwhile (the tests, the sandbox, the benchmarks) calls
:func:`reset` so that nothing made for the old one is reused. Nothing in Lambda calls it.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from aws_lambda_powertools.utilities import parameters

__all__ = ["CachedFunction", "cached_functions", "reset"]

_PACKAGE = "avocette"  # the layer's package


class CachedFunction(Protocol):
    """What ``functools.lru_cache`` makes of a function."""

    __name__: str

    def cache_clear(self) -> None: ...

    def cache_info(self) -> Any: ...


def cached_functions() -> list[CachedFunction]:
    """Every ``functools.lru_cache``/``cache`` function defined at the top of a loaded module of the
    layer (a module not imported yet has nothing cached). A getter added later is found too."""
    found: dict[int, CachedFunction] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == _PACKAGE or name.startswith(_PACKAGE + ".")):
            continue
        for value in list(vars(module).values()):
            if (
                not isinstance(value, type)
                and callable(getattr(value, "cache_clear", None))
                and callable(getattr(value, "cache_info", None))
                and getattr(value, "__module__", None) == name
            ):
                found[id(value)] = value
    return list(found.values())


def reset() -> None:
    """Forget every cached client, setting, secret and format of this process, as a cold start would."""
    for function in cached_functions():
        function.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
