"""Where the running sandbox is, for a second shell and for ``python -m tools --sandbox``: ``make dev``
(``python -m sandbox``) writes ``.sandbox/`` in its working directory, the repository's root, once it
is ready, and removes it when it stops. Nothing needs to be exported for another shell to find it.

- ``.sandbox/env``: three shell assignments, ``API``, ``SIM`` and ``AWS`` (the API and portal, the
  Invoice Cloud simulator, moto's server), read into a shell with ``. .sandbox/env``;
- ``.sandbox/environment.json``: the functions' variables as the sandbox set them (table and bucket
  names, secret ARNs, the biller's settings: never a secret's value), so that the tools run the
  functions' code with the settings the functions have.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["STATE_DIR", "LocalSandbox", "SandboxNotFoundError", "read", "remove", "write"]

STATE_DIR = Path(".sandbox")
_ENV = "env"
_ENVIRONMENT = "environment.json"
_ASSIGNMENT = re.compile(r"^(API|SIM|AWS)=(http://[\w.:-]+)$")
_HEADER = (
    "# Written by `make dev` (python -m sandbox) while it runs, removed when it stops.\n"
    "# In a shell at the repository's root: . .sandbox/env\n"
)


class SandboxNotFoundError(Exception):
    """No running sandbox where one was looked for: the message is one line saying what to do."""


@dataclass(frozen=True)
class LocalSandbox:
    api: str
    simulator: str
    aws: str
    environment: dict[str, str] = field(default_factory=dict)

    def env_text(self) -> str:
        return f"{_HEADER}API={self.api}\nSIM={self.simulator}\nAWS={self.aws}\n"


def write(sandbox: LocalSandbox, directory: Path = STATE_DIR) -> None:
    directory.mkdir(exist_ok=True)
    (directory / _ENVIRONMENT).write_text(json.dumps(sandbox.environment, indent=1, sort_keys=True) + "\n")
    (directory / _ENV).write_text(sandbox.env_text(), encoding="utf-8")  # last: its presence means ready


def remove(sandbox: LocalSandbox, directory: Path = STATE_DIR) -> None:
    """Remove ``directory``'s files if they still describe ``sandbox`` (another may have started since)."""
    env = directory / _ENV
    try:
        if env.read_text(encoding="utf-8") != sandbox.env_text():
            return
    except OSError:
        return
    for name in (_ENV, _ENVIRONMENT):
        (directory / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # something else lives there: leave it
        directory.rmdir()


def read(directory: Path = STATE_DIR, *, check: bool = True) -> LocalSandbox:
    """The sandbox ``directory`` describes; with ``check``, only if its AWS endpoint answers.
    :class:`SandboxNotFoundError` otherwise, in one line with what to do."""
    env = directory / _ENV
    try:
        text = env.read_text(encoding="utf-8")
    except OSError:
        raise SandboxNotFoundError(
            f"no sandbox is running here: `make dev` writes {env} in the repository's root while it runs; "
            "start it (in another shell), and run this from the repository's root"
        ) from None
    values: dict[str, str] = {
        match[1]: match[2] for line in text.splitlines() if (match := _ASSIGNMENT.match(line.strip()))
    }
    if set(values) != {"API", "SIM", "AWS"}:
        raise SandboxNotFoundError(f"{env} is not what `make dev` writes: stop the sandbox, remove it, start again")
    try:
        environment = json.loads((directory / _ENVIRONMENT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        environment = {}
    found = LocalSandbox(values["API"], values["SIM"], values["AWS"], {str(k): str(v) for k, v in environment.items()})
    if check and not answers(found.aws):
        raise SandboxNotFoundError(
            f"the sandbox {env} names (AWS at {found.aws}) does not answer: it was stopped without cleaning up; "
            "start it again with `make dev`"
        )
    return found


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether something listens at ``url``'s host and port (at once, not after botocore's retries)."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False
