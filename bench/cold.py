"""Cold init as deployed, and whether the shipped bytecode is used.

Every sample is a fresh ``python3.12 -B`` process importing one handler module the way Lambda's
bootstrap does (:data:`bench.artifact.import_probe`: sys.path = function, layer, runtime SDK; the import
timed inside the process). In each round, in an order that rotates from round to round:

- the floor: a bare ``import boto3`` from the runtime SDK;
- each function from the `sam build` output as Lambda unpacks it (files dated 1980, ``-B``: nothing
  can be written), and the same code with bytecode freshly compiled next to it (timestamp-based, the
  best case). The first ratio is the goal's cold init; the second says whether the shipped bytecode
  is as good as fresh bytecode.

The first round is dropped (disk caches); medians of the others.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.artifact import (
    CACHE,
    as_deployed,
    function_dirs,
    import_probe,
    lambda_environment,
    python312,
    runtime_sdk,
    sam_build,
)

__all__ = ["ColdResult", "run"]

ROUNDS = 5  # the first is dropped
FLOOR = "import boto3"


@dataclass
class ColdResult:
    interpreter: str
    rounds: int
    floor_ms: float
    floor_cpu_ms: float = 0.0
    deployed_ms: dict[str, float] = field(default_factory=dict)
    fresh_ms: dict[str, float] = field(default_factory=dict)
    deployed_cpu_ms: dict[str, float] = field(default_factory=dict)
    fresh_cpu_ms: dict[str, float] = field(default_factory=dict)
    compiled_at_start: dict[str, int] = field(default_factory=dict)
    layer_mb: float = 0.0
    layer_sources: int = 0
    layer_bytecode: int = 0
    sdk_in_layer: list[str] = field(default_factory=list)

    # The goals are judged on CPU time: an import is CPU-bound (its files are in the page cache after
    # the dropped round), and on a shared machine wall time mostly measures the other tenants.
    def cold_ratio(self, function: str) -> float:
        return self.deployed_cpu_ms[function] / self.floor_cpu_ms

    def bytecode_ratio(self, function: str) -> float:
        return self.deployed_cpu_ms[function] / self.fresh_cpu_ms[function]

    def cold_wall_ratio(self, function: str) -> float:
        return self.deployed_ms[function] / self.floor_ms


def _probe(interpreter: str, root: Path, runtime: Path, function: str | None) -> dict[str, object]:
    """One fresh process: the function's handler from ``root`` (or, with no function, the floor)."""
    if function is None:
        task_root, layer, module = runtime, runtime, "boto3"
        environment = lambda_environment(runtime, "floor")
    else:
        task_root, layer, module = root / function, root / "CommonLayer" / "python", "app"
        environment = lambda_environment(task_root, function)
    result = subprocess.run(  # noqa: S603 - python3.12 on our own probe
        [interpreter, "-B", "-c", import_probe, str(task_root), str(layer), str(runtime), module],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {function or 'boto3'} failed:\n{result.stderr[-3000:]}")
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


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


def run(log: list[str]) -> ColdResult:
    interpreter = python312()
    if interpreter is None:
        raise RuntimeError("python3.12 is needed for the cold-start benchmark (as for sam build)")
    runtime = runtime_sdk(interpreter)
    built = sam_build(CACHE / "build", interpreter)
    deployed = as_deployed(built, CACHE / "deployed")
    fresh = _fresh_copy(deployed, CACHE / "fresh", interpreter)
    layer = deployed / "CommonLayer" / "python"
    functions = sorted(function_dirs())
    result = ColdResult(interpreter=interpreter, rounds=ROUNDS - 1, floor_ms=0.0)
    result.layer_mb = sum(path.stat().st_size for path in layer.rglob("*") if path.is_file()) / 1e6
    result.layer_sources = sum(1 for _ in layer.rglob("*.py"))
    result.layer_bytecode = sum(1 for _ in layer.rglob("*.pyc"))
    result.sdk_in_layer = sorted(name for name in ("boto3", "botocore", "s3transfer") if (layer / name).exists())

    cases: list[tuple[str, Path | None, str | None]] = [("floor", None, None)]
    for function in functions:
        cases += [(f"deployed:{function}", deployed, function), (f"fresh:{function}", fresh, function)]
    samples: dict[str, list[float]] = {name: [] for name, _root, _function in cases}
    cpu: dict[str, list[float]] = {name: [] for name, _root, _function in cases}
    for round_number in range(ROUNDS):
        shift = round_number % len(cases)
        for name, root, case_function in cases[shift:] + cases[:shift]:
            report = _probe(interpreter, root or runtime, runtime, case_function)
            if round_number:
                samples[name].append(float(report["seconds"]) * 1000)  # type: ignore[arg-type]
                cpu[name].append(float(report["cpu"]) * 1000)  # type: ignore[arg-type]
            if name.startswith("deployed:") and case_function is not None:
                compiled = report["compiled"]
                assert isinstance(compiled, list)
                result.compiled_at_start[case_function] = len(compiled)
        log.append(f"cold: round {round_number + 1}/{ROUNDS} done")
    result.floor_ms = statistics.median(samples["floor"])
    result.floor_cpu_ms = statistics.median(cpu["floor"])
    for function in functions:
        result.deployed_ms[function] = statistics.median(samples[f"deployed:{function}"])
        result.fresh_ms[function] = statistics.median(samples[f"fresh:{function}"])
        result.deployed_cpu_ms[function] = statistics.median(cpu[f"deployed:{function}"])
        result.fresh_cpu_ms[function] = statistics.median(cpu[f"fresh:{function}"])
    return result
