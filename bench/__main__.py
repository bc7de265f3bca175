"""``python -m bench``: every benchmark, then docs/performance.md written from what was measured."""

from __future__ import annotations

import os
import sys

# Before the layer is imported: its metrics, tracer and loggers read these when made.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Avocette")
os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from stackdef.template import ROOT


def main() -> int:
    # The functions' log lines (as in Lambda, at INFO) go to /dev/null: writing them to a terminal is
    # not what Lambda does. What this prints goes to the real stdout.
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    logging.getLogger().setLevel(logging.WARNING)
    from bench import artifact, billing_import, calls, cold, report, throughput, warm  # noqa: PLC0415

    started, began = datetime.now(UTC), time.perf_counter()
    load_before = os.getloadavg()
    log: list[str] = []

    def step(name: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {name}", file=out, flush=True)
        for line in log:
            print(f"           {line}", file=out, flush=True)
        log.clear()

    step("cold starts and packaging (sam build, python3.12)")
    cold_result = cold.run(log)
    step("DynamoDB calls and capacity")
    calls_result = calls.run(log)
    step("warm overhead")
    warm_result = warm.run(log)
    step("throughput through the sandbox's gateway")
    throughput_result = throughput.run(log)
    step("billing import")
    billing_text = billing_import.run()
    step("done")
    run = report.Run(
        started=started,
        seconds=time.perf_counter() - began,
        load_before=load_before,
        load_after=os.getloadavg(),
        cold=cold_result,
        warm=warm_result,
        throughput=throughput_result,
        calls=calls_result,
        billing_import=billing_text,
        pins=artifact.runtime_pins(),
    )
    target = Path(ROOT) / "docs" / "performance.md"
    report.save(run)
    report.write(run, target)
    print(f"wrote {target.relative_to(ROOT)}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
