"""The security suite's own fixtures: a running sandbox for the modules that go through the gateway.

Each module that asks for ``sandbox`` gets its own, started on free ports and stopped at the module's
end: the sandbox's moto server shares moto's in-process backends with the ``aws`` fixture, which
resets them, so a sandbox must never outlive the module that uses it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from sandbox.runner import Sandbox, SandboxPorts
from tests.sandbox_client import SandboxClient


def env_int(name: str, default: int) -> int:
    """A figure the long runs (``make fuzz``, ``make load``) raise through the environment."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0)  # no background jobs: the tests decide
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def client(sandbox: Sandbox) -> SandboxClient:
    return SandboxClient(api=sandbox.gateway_url, simulator=sandbox.simulator_url)


def dev_token(sandbox: Sandbox, sub: str) -> str:
    answer = requests.get(f"{sandbox.gateway_url}/dev/token", params={"sub": sub}, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["token"])
