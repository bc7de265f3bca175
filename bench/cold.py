"""Cold requests as deployed: each function's import and first invocation, against a floor of the bare
SDK doing the same AWS calls; and whether the shipped bytecode is used.

Every sample is a fresh ``python3.12 -B`` process on the `sam build` output as Lambda unpacks it
(files dated 1980: nothing can be written), with Lambda's path order (function, layer, runtime SDK)
and tracing on, against moto's server and the Invoice Cloud simulator served by this process
(:mod:`bench.first_request`). In each round, in an order that rotates from round to round, for every
function:

- the function (:data:`bench.artifact.request_probe`): its handler imported, then invoked once with
  its first request (a fixture written just before); the import and the whole are timed inside the
  process;
- its floor: ``import boto3``, the DynamoDB client (and S3's, for the file jobs) made, and the very
  DynamoDB and S3 calls the function made, bare: recorded once from the function (untimed, before
  the rounds) and replayed on a twin fixture of their own;
- the same code with bytecode freshly compiled next to it (timestamp-based, the best case), imported
  only: whether the shipped bytecode is as good.

Two ratios per function: the cold request (import + first invocation ÷ the floor's whole), and the
import alone (÷ the floor's ``import boto3``, from the same floor processes). Each round starts from
empty tables; the first round is dropped (disk caches); medians of the others.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.artifact import (
    CACHE,
    as_deployed,
    function_dirs,
    import_probe,
    lambda_environment,
    python312,
    request_probe,
    runtime_sdk,
    sam_build,
)
from bench.first_request import FIRST_REQUESTS, REPLAYED_SERVICES, Fixture, ServedStack, swapped_calls

__all__ = ["ColdResult", "run"]

ROUNDS = 6  # the first is dropped
FLOOR = "import boto3"


@dataclass
class ColdResult:
    interpreter: str
    rounds: int
    # Medians, by function (ms): the import as deployed, the cold request (import + first invocation),
    # the floor's whole (import boto3 + clients + calls) and the fresh-bytecode import; CPU and wall.
    deployed_cpu_ms: dict[str, float] = field(default_factory=dict)
    deployed_ms: dict[str, float] = field(default_factory=dict)
    request_cpu_ms: dict[str, float] = field(default_factory=dict)
    request_ms: dict[str, float] = field(default_factory=dict)
    floor_request_cpu_ms: dict[str, float] = field(default_factory=dict)
    floor_request_ms: dict[str, float] = field(default_factory=dict)
    fresh_cpu_ms: dict[str, float] = field(default_factory=dict)
    fresh_ms: dict[str, float] = field(default_factory=dict)
    # The floor's ``import boto3`` alone, over every floor process.
    floor_cpu_ms: float = 0.0
    floor_ms: float = 0.0
    first_request: dict[str, str] = field(default_factory=dict)
    replayed: dict[str, list[str]] = field(default_factory=dict)  # the floor's calls, by function
    not_replayed: dict[str, list[str]] = field(default_factory=dict)  # the function's other calls
    compiled_at_start: dict[str, int] = field(default_factory=dict)
    layer_mb: float = 0.0
    layer_sources: int = 0
    layer_bytecode: int = 0
    sdk_in_layer: list[str] = field(default_factory=list)

    # The goals are judged on CPU time: once its files are in the page cache (the dropped round) a
    # cold start is CPU-bound but for its calls' round trips, which the floor makes too; on a shared
    # machine wall time mostly measures the other tenants. Wall time is shown beside.
    def request_ratio(self, function: str) -> float:
        return self.request_cpu_ms[function] / self.floor_request_cpu_ms[function]

    def request_wall_ratio(self, function: str) -> float:
        return self.request_ms[function] / self.floor_request_ms[function]

    def cold_ratio(self, function: str) -> float:
        """The import alone ÷ ``import boto3``."""
        return self.deployed_cpu_ms[function] / self.floor_cpu_ms

    def cold_wall_ratio(self, function: str) -> float:
        return self.deployed_ms[function] / self.floor_ms

    def bytecode_ratio(self, function: str) -> float:
        return self.deployed_cpu_ms[function] / self.fresh_cpu_ms[function]


@dataclass
class _Samples:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])


def _fresh_copy(deployed: Path, target: Path, interpreter: str) -> Path:
    """The same code with timestamp-based bytecode compiled now (what a writable disk would keep)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(deployed, target, symlinks=True)
    for cached in target.rglob("__pycache__"):
        shutil.rmtree(cached)
    for path in target.rglob("*"):
        if path.is_file():
            path.touch()
    subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0", str(target)], check=True, timeout=600)  # noqa: S603
    return target


def _trace_environment(sample: int) -> dict[str, str]:
    """Tracing on as Lambda sets it for a sampled request (segments sent by UDP to nobody)."""
    return {
        "_X_AMZN_TRACE_ID": f"Root=1-6740a000-{sample:024x};Parent={sample:016x};Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    }


class _Runner:
    def __init__(self, interpreter: str, deployed: Path, fresh: Path, runtime: Path, stack: ServedStack) -> None:
        self.interpreter, self.deployed, self.fresh, self.runtime, self.stack = (
            interpreter,
            deployed,
            fresh,
            runtime,
            stack,
        )
        self.samples = 0
        self.scratch = Path(tempfile.mkdtemp(prefix="bench-cold-"))

    def next_sample(self) -> int:
        self.samples += 1
        return self.samples

    def _environment(self, function: str) -> dict[str, str]:
        task_root = self.deployed / function
        return {
            **lambda_environment(task_root, function),
            **self.stack.environments[function],
            **_trace_environment(self.samples),
            "AWS_ENDPOINT_URL": self.stack.moto_url,
        }

    def request(self, function: str, *, event: Any = None, calls: list[Any] | None = None, record: bool = False) -> Any:
        """One fresh process: the function's first invocation, or (with ``calls``) its floor."""
        case_path, answer_path = self.scratch / "case.json", self.scratch / "answer.json"
        answer_path.unlink(missing_ok=True)
        case = {
            "path": [str(self.deployed / function), str(self.deployed / "CommonLayer" / "python"), str(self.runtime)],
            "module": "app",
            "event": event,
            "calls": calls,
            "record": record,
        }
        case_path.write_text(json.dumps(case))
        result = subprocess.run(  # noqa: S603 - python3.12 on our own probe
            [self.interpreter, "-B", "-c", request_probe, str(case_path), str(answer_path)],
            capture_output=True,
            text=True,
            timeout=180,
            env=self._environment(function),
            cwd=self.scratch,
            check=False,
        )
        if result.returncode != 0 or not answer_path.is_file():
            what = "floor of " + function if calls is not None else function
            raise RuntimeError(f"the cold request of {what} failed:\n{result.stderr[-4000:]}")
        answer: dict[str, Any] = json.loads(answer_path.read_text())
        expected = FIRST_REQUESTS[function].status
        if calls is None and answer["status"] != expected:
            raise RuntimeError(f"{function} answered {answer['status']}, not {expected}")
        return answer

    def import_only(self, root: Path, function: str) -> dict[str, Any]:
        task_root = root / function
        result = subprocess.run(  # noqa: S603 - python3.12 on our own probe
            [
                self.interpreter,
                "-B",
                "-c",
                import_probe,
                str(task_root),
                str(root / "CommonLayer" / "python"),
                str(self.runtime),
                "app",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**lambda_environment(task_root, function), **self.stack.environments[function]},
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"importing {function} failed:\n{result.stderr[-3000:]}")
        answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return answer


@contextmanager
def _served() -> Iterator[ServedStack]:
    stack = ServedStack()
    with stack.running():
        yield stack


def _record(runner: _Runner, functions: list[str], result: ColdResult) -> dict[str, tuple[Fixture, list[Any]]]:
    """Each function's calls, recorded once (untimed) on a fixture of its own."""
    recorded: dict[str, tuple[Fixture, list[Any]]] = {}
    for function in functions:
        first = FIRST_REQUESTS[function]
        fixture = first.prepare(runner.stack, runner.next_sample())
        calls = runner.request(function, event=fixture.event, record=True)["calls"]
        recorded[function] = (fixture, calls)
        result.first_request[function] = first.request
        result.replayed[function] = [call["method"] for call in calls if call["service"] in REPLAYED_SERVICES]
        result.not_replayed[function] = [
            f"{call['service']}.{call['method']}" for call in calls if call["service"] not in REPLAYED_SERVICES
        ]
    return recorded


def _sample(
    runner: _Runner,
    kind: str,
    function: str,
    *,
    recorded: dict[str, tuple[Fixture, list[Any]]],
    keep: bool,
    cpu: _Samples,
    wall: _Samples,
    result: ColdResult,
) -> None:
    """One fresh process: the function, its floor, or its fresh-bytecode import."""
    if kind == "fresh":
        report = runner.import_only(runner.fresh, function)
        if keep:
            cpu.add(f"fresh:{function}", report["cpu"] * 1000)
            wall.add(f"fresh:{function}", report["seconds"] * 1000)
        return
    fixture = FIRST_REQUESTS[function].prepare(runner.stack, runner.next_sample())
    if kind == "function":
        answer = runner.request(function, event=fixture.event)
        result.compiled_at_start[function] = len(answer["compiled"])
    else:
        recorded_on, calls = recorded[function]
        answer = runner.request(function, calls=swapped_calls(calls, recorded_on, fixture))
    if not keep:
        return
    cpu.add(f"{kind}:import:{function}", answer["import_cpu"] * 1000)
    wall.add(f"{kind}:import:{function}", answer["import_seconds"] * 1000)
    cpu.add(f"{kind}:{function}", (answer["import_cpu"] + answer["request_cpu"]) * 1000)
    wall.add(f"{kind}:{function}", (answer["import_seconds"] + answer["request_seconds"]) * 1000)
    if kind == "floor":
        cpu.add("floor:import", answer["import_cpu"] * 1000)
        wall.add("floor:import", answer["import_seconds"] * 1000)


def _layer_facts(layer: Path, result: ColdResult) -> None:
    result.layer_mb = sum(path.stat().st_size for path in layer.rglob("*") if path.is_file()) / 1e6
    result.layer_sources = sum(1 for _ in layer.rglob("*.py"))
    result.layer_bytecode = sum(1 for _ in layer.rglob("*.pyc"))
    result.sdk_in_layer = sorted(name for name in ("boto3", "botocore", "s3transfer") if (layer / name).exists())


def run(log: list[str], *, rounds: int = ROUNDS, functions: list[str] | None = None) -> ColdResult:
    interpreter = python312()
    if interpreter is None:
        raise RuntimeError("python3.12 is needed for the cold-start benchmark (as for sam build)")
    runtime = runtime_sdk(interpreter)
    built = sam_build(CACHE / "build", interpreter)
    deployed = as_deployed(built, CACHE / "deployed")
    fresh = _fresh_copy(deployed, CACHE / "fresh", interpreter)
    functions = sorted(functions or function_dirs())
    result = ColdResult(interpreter=interpreter, rounds=rounds - 1)
    _layer_facts(deployed / "CommonLayer" / "python", result)
    cpu, wall = _Samples(), _Samples()
    with _served() as stack:
        runner = _Runner(interpreter, deployed, fresh, runtime, stack)
        stack.fresh()
        recorded = _record(runner, functions, result)
        log.append("cold: calls recorded: " + "; ".join(f"{name} {len(rec[1])}" for name, rec in recorded.items()))
        cases = [(kind, function) for function in functions for kind in ("function", "floor", "fresh")]
        for round_number in range(rounds):
            stack.fresh()
            shift = (round_number * 7) % len(cases)
            for kind, function in cases[shift:] + cases[:shift]:
                _sample(
                    runner, kind, function, recorded=recorded, keep=round_number > 0, cpu=cpu, wall=wall, result=result
                )
            log.append(f"cold: round {round_number + 1}/{rounds} done")
        shutil.rmtree(runner.scratch, ignore_errors=True)

    result.floor_cpu_ms, result.floor_ms = cpu.median("floor:import"), wall.median("floor:import")
    for function in functions:
        result.deployed_cpu_ms[function] = cpu.median(f"function:import:{function}")
        result.deployed_ms[function] = wall.median(f"function:import:{function}")
        result.request_cpu_ms[function] = cpu.median(f"function:{function}")
        result.request_ms[function] = wall.median(f"function:{function}")
        result.floor_request_cpu_ms[function] = cpu.median(f"floor:{function}")
        result.floor_request_ms[function] = wall.median(f"floor:{function}")
        result.fresh_cpu_ms[function] = cpu.median(f"fresh:{function}")
        result.fresh_ms[function] = wall.median(f"fresh:{function}")
    return result


def main() -> None:
    """``python -m bench.cold [rounds] [function ...]``: this benchmark alone, its figures printed."""
    import os  # noqa: PLC0415
    import sys  # noqa: PLC0415

    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Avocette")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the fixtures' log lines
    arguments = sys.argv[1:]
    rounds = int(arguments.pop(0)) if arguments and arguments[0].isdigit() else ROUNDS
    log: list[str] = []
    result = run(log, rounds=rounds, functions=arguments or None)
    for line in log:
        print(line, file=out)
    print(f"floor import boto3: {result.floor_cpu_ms:.0f} ms CPU ({result.floor_ms:.0f} ms wall)", file=out)
    for function in sorted(result.request_cpu_ms):
        print(
            f"{function:28} request {result.request_cpu_ms[function]:4.0f} / floor "
            f"{result.floor_request_cpu_ms[function]:4.0f} = {result.request_ratio(function):.2f} "
            f"(wall {result.request_wall_ratio(function):.2f})   import {result.deployed_cpu_ms[function]:4.0f} "
            f"= {result.cold_ratio(function):.2f}   bytecode {result.bytecode_ratio(function):.2f}   "
            f"floor calls {', '.join(result.replayed[function])}; other {', '.join(result.not_replayed[function])}",
            file=out,
        )


if __name__ == "__main__":
    main()
