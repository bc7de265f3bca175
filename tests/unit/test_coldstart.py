"""The collector during a cold start: paused in Lambda's runtime only, resumed (and what survived
frozen) once loaded or after the first invocation, whether it answered or raised; and ``random``
reseeded after each SnapStart restore."""

from __future__ import annotations

import gc
import random
import sys
import types
from collections.abc import Callable, Iterator

import pytest
from avocette import coldstart


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """Each test starts and ends with the collector running and nothing frozen."""
    yield
    coldstart.resume_collector()
    gc.unfreeze()
    gc.enable()


def test_outside_lambda_nothing_is_paused_or_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    coldstart.pause_collector()
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    coldstart.resume_collector()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_in_lambda_paused_while_loading_then_resumed_with_the_survivors_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    coldstart.pause_collector()
    assert not gc.isenabled()
    coldstart.resume_collector()
    assert gc.isenabled() and gc.get_freeze_count() > 0


@pytest.mark.parametrize("raises", [False, True])
def test_the_first_invocation_resumes_it_whatever_its_end(monkeypatch: pytest.MonkeyPatch, raises: bool) -> None:
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    seen = []

    @coldstart.resumed_after_first_call
    def handler(event: dict[str, str], context: object) -> dict[str, str]:
        seen.append(gc.isenabled())
        if raises:
            raise RuntimeError("failed")
        return event

    coldstart.pause_collector()
    if raises:
        with pytest.raises(RuntimeError):
            handler({"a": "b"}, None)
    else:
        assert handler({"a": "b"}, None) == {"a": "b"}
    assert seen == [False] and gc.isenabled()


def test_without_the_runtimes_restore_hook_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # the import fails, as outside Lambda
    assert coldstart.reseed_random_after_restore() is False


def test_after_a_snapstart_restore_random_is_reseeded(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks: list[Callable[[], object]] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_after_restore = hooks.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    assert coldstart.reseed_random_after_restore() is True
    (restore,) = hooks
    # Two environments restored from one snapshot: the same state, until each reseeds.
    random.seed(17)
    snapshot = random.getstate()
    drawn = []
    for _ in range(2):
        random.setstate(snapshot)
        restore()
        drawn.append(random.random())
    assert drawn[0] != drawn[1]
