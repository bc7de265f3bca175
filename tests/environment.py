"""Tests that need something a fresh laptop may lack: skip loudly there, fail when CI is set."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

MISSING: list[str] = []


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(available: bool, what: str, how: str) -> None:
    """Skip (or, under CI, fail) unless ``available``; ``how`` tells a person how to get it."""
    if available:
        return
    message = f"{what} is not available: {how}"
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this cannot be skipped)")
    MISSING.append(message)
    pytest.skip(message)


def python312() -> str | None:
    """A working python3.12 for ``sam build``: on PATH, or one pyenv has installed."""
    candidates = [
        shutil.which("python3.12"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))),
    ]
    for candidate in candidates:
        if candidate and _runs(candidate):
            return candidate
    return None


def chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists() and _runs(candidate):
            return candidate
    return None


def _runs(executable: str) -> bool:
    try:
        return subprocess.run([executable, "--version"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
