"""The stack the benchmarks run against: moto in this process, tables and secrets from template.yaml,
and a recorder of every botocore client's DynamoDB calls."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from sandbox.stack import StackNames, StackSecrets, environment, provision
from stackdef import caches

__all__ = ["Call", "calls_counted", "moto_stack", "recorded"]

PARAMETERS = {
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
def moto_stack(parameters: dict[str, str] | None = None, *, secrets: StackSecrets | None = None) -> Iterator[None]:
    """A fresh moto in this process with the stack's tables and secrets, and the functions'
    environment set (every use starts from empty tables)."""
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    _serialize_moto()
    with mock_aws():
        caches.reset()
        merged = {**PARAMETERS, **(parameters or {})}
        resources = provision(StackNames(), secrets or StackSecrets(), sender_email=merged["SenderEmail"])
        os.environ.update(environment(resources, merged))
        caches.reset()
        yield
    caches.reset()


@dataclass
class Call:
    operation: str
    params: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)


_recording: list[list[Call]] = []
_original = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore has no stubs for it


def _recording_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
    response = _original(self, operation_name, api_params)
    if _recording and self.meta.service_model.service_name == "dynamodb":
        _recording[-1].append(Call(operation_name, dict(api_params), response))
    return response


@contextmanager
def recorded() -> Iterator[list[Call]]:
    """Every DynamoDB call any botocore client makes meanwhile (the app's and Powertools' own)."""
    calls: list[Call] = []
    BaseClient._make_api_call = _recording_call  # type: ignore[attr-defined]
    _recording.append(calls)
    try:
        yield calls
    finally:
        _recording.remove(calls)
        if not _recording:
            BaseClient._make_api_call = _original  # type: ignore[attr-defined]


@contextmanager
def calls_counted() -> Iterator[list[str]]:
    """The names of the DynamoDB operations called meanwhile, in order (for the billing import)."""
    names: list[str] = []
    with recorded() as calls:
        try:
            yield names
        finally:
            names.extend(call.operation for call in calls)
