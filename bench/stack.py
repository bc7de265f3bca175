"""The stack the benchmarks run against: moto in this process, tables and secrets from template.yaml."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from avocette.store import table
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from sandbox.stack import StackNames, StackSecrets, environment, forget_cached_clients, provision

__all__ = ["calls_counted", "moto_stack"]

_PARAMETERS = {
    "JwtIssuer": "https://bench/",
    "JwtAudience": "bench",
    "CorsAllowOrigins": "https://bench",
    "PortalReturnUrl": "https://bench/#/return/{paymentId}",
    "SenderEmail": "bench@example.com",
}


def _serialize_moto() -> None:
    """DynamoDB applies each request atomically; moto in-process does not promise to under threads."""
    if getattr(BotocoreStubber.process_request, "serialized", False):
        return
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def serialized(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    serialized.serialized = True  # type: ignore[attr-defined]
    BotocoreStubber.process_request = serialized  # type: ignore[method-assign]


@contextmanager
def moto_stack() -> Iterator[None]:
    """moto in-process with the stack's tables and secrets, and the functions' environment set."""
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    _serialize_moto()
    with mock_aws():
        forget_cached_clients()
        resources = provision(StackNames(), StackSecrets(), sender_email=_PARAMETERS["SenderEmail"])
        os.environ.update(environment(resources, _PARAMETERS))
        forget_cached_clients()
        yield


@contextmanager
def calls_counted() -> Iterator[list[str]]:
    """The names of the DynamoDB operations called meanwhile, in order."""
    calls: list[str] = []
    client = table.dynamodb()
    handler = client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.dynamodb", handler)
