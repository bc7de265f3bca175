"""The sandbox runs each function as Lambda does: in worker processes of its own, one event at a time
each, warm between events, with that function's environment and the sandbox's clock; a slow, failing
or dying invocation answers as Lambda would and its worker is replaced.

The pool's mechanics are shown on a probe function written for the test (it sleeps, crashes or tells
what its process sees on demand); the template's real functions are then checked through the running
sandbox's gateway: their environments, and concurrent requests that overlap yet each get their own answer.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.test import Client

from sandbox.functions import FunctionError, FunctionPool, lambda_variables
from sandbox.gateway import Cors, Gateway, GatewayRoute
from sandbox.issuer import LocalIssuer
from sandbox.runner import Sandbox, SandboxPorts
from stackdef.template import ROOT, FunctionSpec, function_environment, function_specs
from tests.sandbox_client import SandboxClient

pytestmark = pytest.mark.sandbox

PROBE = '''
"""A function for the tests: it does what its event asks, and tells what its process sees."""

import json
import logging
import os
import sys
import time

from avocette import clock

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
if os.environ.get("PROBE_FAIL_INIT"):
    raise RuntimeError("this init fails")


def handler(event, context):
    started = time.time()
    if isinstance(event.get("body"), str):  # through the gateway: the request's JSON body asks
        event = {**event, **json.loads(event["body"])}
    if event.get("log"):
        logging.getLogger("probe").info(json.dumps({"level": event.get("level", "INFO"), "message": event["log"]}))
    if event.get("stderr"):
        print(event["stderr"], file=sys.stderr)
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("exit") is not None:
        os._exit(event["exit"])
    time.sleep(event.get("sleep", 0))
    return {
        "pid": os.getpid(),
        "started": started,
        "ended": time.time(),
        "env": {name: os.environ.get(name) for name in event.get("env", [])},
        "now": clock.timestamp(clock.utc_now()),
        "remainingMs": context.get_remaining_time_in_millis(),
        "functionName": context.function_name,
        "functions": sorted(name for name in sys.modules if name.startswith("avocette_function_")),
        "stdin": sys.stdin.read(),
    }
'''


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(textwrap.dedent(PROBE), encoding="utf-8")
    return tmp_path


@pytest.fixture
def make_pool(probe_dir: Path) -> Iterator[Callable[..., FunctionPool]]:
    pools: list[FunctionPool] = []

    def make(size: int = 2, timeout: int = 10, env: dict[str, str] | None = None, **options: Any) -> FunctionPool:
        spec = FunctionSpec(logical_id="ProbeFunction", code_dir=probe_dir, handler="app.handler", timeout=timeout)
        base = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
        pool = FunctionPool(spec, size=size, environment={**base, **lambda_variables(spec), **(env or {})}, **options)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop()


def _invoke_all(pool: FunctionPool, events: list[dict[str, Any]]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=len(events)) as threads:
        return list(threads.map(pool.invoke, events))


def _most_at_once(results: list[dict[str, Any]]) -> int:
    moments = sorted([(r["started"], 1) for r in results] + [(r["ended"], -1) for r in results])
    running = most = 0
    for _, step in moments:
        running += step
        most = max(most, running)
    return most


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# ---- the pool, on the probe function --------------------------------------------------------------


def test_invocations_of_one_function_overlap_up_to_the_pool_size_and_queue_beyond(
    make_pool: Callable[..., FunctionPool],
) -> None:
    pool = make_pool(size=2)
    pool.fill()
    pool.wait_ready(2)

    two = _invoke_all(pool, [{"sleep": 1.0}, {"sleep": 1.0}])
    assert len({r["pid"] for r in two}) == 2 and _most_at_once(two) == 2

    began = time.monotonic()
    three = _invoke_all(pool, [{"sleep": 0.6}] * 3)
    assert _most_at_once(three) == 2  # the third waited for a free worker
    assert time.monotonic() - began >= 1.2
    assert {r["pid"] for r in three} == {r["pid"] for r in two}  # the same warm workers
    assert pool.peak_busy == 2


def test_a_pool_of_one_runs_one_event_at_a_time_in_one_warm_process(make_pool: Callable[..., FunctionPool]) -> None:
    pool = make_pool(size=1)
    results = _invoke_all(pool, [{"sleep": 0.3}] * 3)
    assert _most_at_once(results) == 1
    assert len({r["pid"] for r in results}) == 1
    assert pool.pids == [results[0]["pid"]]


def test_a_pool_grows_on_demand_to_its_size(make_pool: Callable[..., FunctionPool]) -> None:
    pool = make_pool(size=2)
    pool.start(1)
    pool.wait_ready(1)
    assert len(pool.pids) == 1
    _invoke_all(pool, [{"sleep": 1.5}] * 2)  # the second found none free: a cold start
    assert len(pool.pids) == 2


def test_the_worker_has_its_own_environment_and_imports_only_its_function(
    make_pool: Callable[..., FunctionPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONLY_IN_THE_SANDBOX_PROCESS", "x")
    pool = make_pool(env={"MINE": "yes"})
    names = ["MINE", "ONLY_IN_THE_SANDBOX_PROCESS", "AWS_LAMBDA_FUNCTION_NAME", "PYTHONPATH"]
    result = pool.invoke({"env": names})
    assert result["env"]["MINE"] == "yes"
    assert result["env"]["ONLY_IN_THE_SANDBOX_PROCESS"] is None
    assert result["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "ProbeFunction"
    assert str(ROOT / "layers" / "common") in result["env"]["PYTHONPATH"].split(os.pathsep)
    assert result["functions"] == ["avocette_function_ProbeFunction"]
    assert result["functionName"] == "ProbeFunction" and 0 < result["remainingMs"] <= 10_000
    assert result["stdin"] == ""  # the protocol's pipe is not the function's standard input


def test_each_invocation_carries_the_sandbox_clock(make_pool: Callable[..., FunctionPool]) -> None:
    offset = [timedelta()]
    pool = make_pool(size=1, clock_offset=lambda: offset[0])
    before = pool.invoke({})["now"]
    offset[0] = timedelta(days=3)
    later = pool.invoke({})["now"]
    assert later[:10] > before[:10]
    offset[0] = timedelta()
    assert pool.invoke({})["now"][:10] == before[:10]  # set on every invocation, not once


def test_the_workers_log_lines_reach_the_sandbox_logging(
    make_pool: Callable[..., FunctionPool], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sandbox.worker")
    pool = make_pool(size=1)
    pool.invoke({"log": "hello from the probe", "level": "WARNING", "stderr": "a line on stderr"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len([r for r in caplog.records if "probe" in r.getMessage()]) < 1:
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("stderr" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    records = {r.getMessage(): r for r in caplog.records if r.name == "sandbox.worker.ProbeFunction"}
    (logged,) = [r for message, r in records.items() if "hello from the probe" in message]
    assert json.loads(logged.getMessage())["message"] == "hello from the probe"
    assert logged.levelno == logging.WARNING  # the line's own level
    assert records["a line on stderr"].levelno == logging.WARNING


def test_an_invocation_past_the_timeout_fails_as_lambdas_and_its_worker_is_replaced(
    make_pool: Callable[..., FunctionPool],
) -> None:
    pool = make_pool(size=1, timeout=1)
    first = pool.invoke({})["pid"]
    began = time.monotonic()
    with pytest.raises(FunctionError) as failed:
        pool.invoke({"sleep": 30})
    assert failed.value.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in failed.value.message
    assert time.monotonic() - began < 5
    assert _gone(first)
    assert pool.invoke({})["pid"] != first  # a fresh worker answers the next event


def test_an_exception_is_the_functions_error_and_the_worker_stays(make_pool: Callable[..., FunctionPool]) -> None:
    pool = make_pool(size=1)
    pid = pool.invoke({})["pid"]
    with pytest.raises(FunctionError) as failed:
        pool.invoke({"raise": "no such thing"})
    assert (failed.value.error_type, failed.value.message) == ("ValueError", "no such thing")
    assert pool.invoke({})["pid"] == pid


def test_a_worker_that_dies_is_replaced(make_pool: Callable[..., FunctionPool]) -> None:
    pool = make_pool(size=1)
    pid = pool.invoke({})["pid"]
    with pytest.raises(FunctionError) as failed:
        pool.invoke({"exit": 3})
    assert failed.value.error_type == "Runtime.ExitError"
    assert _gone(pid)
    assert pool.invoke({})["pid"] != pid


def test_a_function_that_cannot_import_fails_its_init(make_pool: Callable[..., FunctionPool]) -> None:
    pool = make_pool(size=1, env={"PROBE_FAIL_INIT": "1"})
    with pytest.raises(FunctionError) as failed:
        pool.wait_ready(1)
    assert failed.value.error_type == "Runtime.InitError" and "this init fails" in failed.value.message
    with pytest.raises(FunctionError):  # and so does an invocation, after trying its init again
        pool.invoke({})


def test_stopping_ends_every_worker_even_a_busy_one(make_pool: Callable[..., FunctionPool]) -> None:
    pool = make_pool(size=2)
    pool.fill()
    pool.wait_ready(2)
    pids = pool.pids

    def sleep_through_the_stop() -> None:
        with pytest.raises(FunctionError):
            pool.invoke({"sleep": 30})

    busy = threading.Thread(target=sleep_through_the_stop)
    busy.start()
    time.sleep(0.3)
    began = time.monotonic()
    pool.stop(timeout=1)
    busy.join(timeout=5)
    assert all(_gone(pid) for pid in pids)
    assert time.monotonic() - began < 5
    with pytest.raises(FunctionError) as failed:
        pool.invoke({})
    assert failed.value.error_type == "Sandbox.Stopped"


def test_workers_die_with_the_sandbox_process_even_while_busy(probe_dir: Path) -> None:
    """A sandbox killed outright (no clean-up) leaves no worker behind, idle or in an invocation."""
    parent = textwrap.dedent(f"""
        import threading, time
        from sandbox.functions import FunctionPool
        from stackdef.template import FunctionSpec
        spec = FunctionSpec(logical_id="ProbeFunction", code_dir=__import__("pathlib").Path({str(probe_dir)!r}),
                            handler="app.handler", timeout=60)
        pool = FunctionPool(spec, size=2, environment={{}})
        pool.fill()
        pool.wait_ready(2)
        print(*pool.pids, flush=True)
        threading.Thread(target=pool.invoke, args=({{"sleep": 60}},), daemon=True).start()
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", parent], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    pids = [int(pid) for pid in process.stdout.readline().split()]
    assert len(pids) == 2
    time.sleep(0.5)  # one of them is now busy sleeping
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert all(_gone(pid, within=5) for pid in pids)


def test_the_gateway_answers_a_timed_out_function_as_api_gateway_does(
    make_pool: Callable[..., FunctionPool],
) -> None:
    pool = make_pool(size=1, timeout=1)
    gateway = Gateway(
        [GatewayRoute(method="POST", path="/probe", authorized=False, function=pool)],
        LocalIssuer("https://issuer.test/"),
        Cors(allow_origins=(), allow_headers=(), allow_methods=(), max_age=0),
        openapi=dict,
    )
    client = Client(gateway)
    quick = client.post("/probe", json={})
    assert quick.status_code == 200
    answer = client.post("/probe", json={"sleep": 30})
    assert answer.status_code == 500
    assert answer.get_json() == {"message": "Internal Server Error"}
    assert _gone(quick.get_json()["pid"])
    assert client.post("/probe", json={}).get_json()["pid"] != quick.get_json()["pid"]


def _free_base_port() -> int:
    """A port with the two after it free too (the sandbox takes base, base + 1 and base + 2)."""
    import socket

    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + 2 > 65535:
            continue
        try:
            with socket.socket() as one, socket.socket() as two:
                one.bind(("127.0.0.1", base + 1))
                two.bind(("127.0.0.1", base + 2))
        except OSError:
            continue
        return base
    raise RuntimeError("no three free ports in a row")


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc: no tool a fresh machine may lack)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def test_make_dev_starts_in_one_command_and_stops_cleanly_on_ctrl_c() -> None:
    """``python -m sandbox`` (what ``make dev`` runs) in a terminal's process group: Ctrl-C (SIGINT to
    the whole group) stops it with status 0 and leaves no worker behind; no worker dies mid-import."""
    base = _free_base_port()
    environment = {**os.environ, "SANDBOX_BASE_PORT": str(base)}
    process = subprocess.Popen(  # a group of its own, as a terminal's foreground job is
        [sys.executable, "-m", "sandbox"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.decode("utf-8", "replace"))
            if "Press Ctrl-C to stop" in lines[-1]:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(120), "".join(lines[-30:])
        assert requests.get(f"http://127.0.0.1:{base}/openapi.json", timeout=10).status_code == 200
        workers = _children(process.pid)
        assert workers, "the functions run in worker processes"
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0, "".join(lines[-30:])
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=5)
    assert all(_gone(pid) for pid in workers)
    output = "".join(lines)
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]


# ---- the template's real functions, in the running sandbox --------------------------------------


@pytest.fixture(scope="module")
def running() -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxPorts.free(), schedule_seconds=0)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_each_real_function_gets_its_own_variables_and_no_other_functions(running: Sandbox) -> None:
    template_names = {spec.logical_id: set(function_environment(spec)) for spec in function_specs()}
    everyone = set().union(*template_names.values())
    for logical_id, pool in running.pools.items():
        own = template_names[logical_id]
        assert own <= set(pool.environment), logical_id
        assert not (everyone - own) & set(pool.environment), f"{logical_id} sees another function's settings"
        assert pool.environment["AWS_LAMBDA_FUNCTION_NAME"] == logical_id


def test_concurrent_requests_through_the_gateway_overlap_and_each_gets_its_own_answer(running: Sandbox) -> None:
    client = SandboxClient(api=running.gateway_url, simulator=running.simulator_url)
    users = {"alice": {"ACCT-1001", "ACCT-1002"}, "bob": {"ACCT-2001"}}
    tokens = {user: client.token(user) for user in users}
    pool = running.pools["AccountsFunction"]
    pool.fill()
    pool.wait_ready(pool.size)

    def accounts(user: str) -> tuple[str, int, set[str]]:
        answer = requests.get(
            f"{running.gateway_url}/accounts", headers={"Authorization": f"Bearer {tokens[user]}"}, timeout=30
        )
        return user, answer.status_code, {account["accountNumber"] for account in answer.json()["accounts"]}

    with ThreadPoolExecutor(max_workers=12) as threads:
        answers = list(threads.map(accounts, ["alice", "bob"] * 12))
    assert all(status == 200 and seen == users[user] for user, status, seen in answers)
    assert pool.peak_busy == pool.size >= 2, "requests really ran at once, each in a worker of its own"
