"""``python -m sandbox`` (what ``make dev`` runs): the whole stack on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings

from sandbox.functions import FunctionError
from sandbox.runner import DEFAULT_BASE_PORT, PoolSizes, Sandbox, SandboxPorts
from stackdef import local


def _how_to(sandbox: Sandbox) -> str:
    api = sandbox.gateway_url
    return f"""
avocette-payments sandbox is ready.

  Portal and API   {api}/
  OpenAPI          {api}/openapi.json
  Invoice Cloud    {sandbox.simulator_url}/   (simulator; control API under /_sim/)
  AWS (moto)       {sandbox.moto_url}
  Functions        {_workers(sandbox)}

In another shell at the repository's root, `. .sandbox/env` sets API, SIM and AWS to these addresses
(README.md's blocks start so), and `.venv/bin/python -m tools --sandbox ...` runs the ops tools here.

Try it (see README.md for the whole walk-through):
  TOKEN=$(curl -s '{api}/dev/token?sub=alice' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s -X POST {api}/payments -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{{"invoices": [{{"accountNumber": "ACCT-1001", "invoiceNumber": "INV-1001-1"}}]}}'
  # open the paymentUrl, pay with card 4111111111111111 (4000000000000002 declines), then:
  curl -s {api}/payments/<paymentId> -H "Authorization: Bearer $TOKEN"

Register first, as carol (no accounts yet; her bills show registration values 3001-REG and 3002-REG):
  TOKEN=$(curl -s '{api}/dev/token?sub=carol' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s -X POST {api}/registrations -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
       -d '{{"accounts": [{{"accountNumber": "ACCT-3001", "registrationValue": "3001-REG"}}]}}'
  curl -s {api}/accounts -H "Authorization: Bearer $TOKEN";  curl -s {api}/dev/mailbox

Demo users: alice (ACCT-1001, ACCT-1002), bob (ACCT-2001), carol (ACCT-3001, ACCT-3002 to register),
dana (ACCT-4001: a credit invoice lowers her oldest bill).
Press Ctrl-C to stop; every run starts from the demo data with fresh keys.
"""


def _workers(sandbox: Sandbox) -> str:
    sizes = sandbox.pool_sizes
    return (
        f"{len(sandbox.pools)}, each in worker processes of its own: up to {sizes.http} per HTTP function, "
        f"{sizes.events} per scheduled or S3 one (SANDBOX_HTTP_WORKERS, SANDBOX_EVENT_WORKERS)"
    )


def _stop_signal(*_: object) -> None:
    # SIGTERM stops the sandbox as Ctrl-C does, even while it starts. Once: `make dev` sends its own
    # SIGTERM on to the sandbox when it gets one, and a second KeyboardInterrupt would cut the
    # cleanup short (the workers, .sandbox/).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    base = int(os.environ.get("SANDBOX_BASE_PORT", DEFAULT_BASE_PORT))
    sizes = PoolSizes(
        http=int(os.environ.get("SANDBOX_HTTP_WORKERS", PoolSizes.http)),
        events=int(os.environ.get("SANDBOX_EVENT_WORKERS", PoolSizes.events)),
    )
    prewarm = os.environ.get("SANDBOX_PREWARM", "").lower() in ("1", "true", "yes")
    sandbox = Sandbox(SandboxPorts.from_base(base), pool_sizes=sizes, prewarm=prewarm)
    signal.signal(signal.SIGTERM, _stop_signal)
    # Ctrl-C stops it even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sandbox.start()  # stops what it started if it fails or is interrupted
    except OSError as exc:
        print(f"Could not start the sandbox on ports {base}-{base + 2}: {exc}", file=sys.stderr)
        print("Set SANDBOX_BASE_PORT to move it, e.g. SANDBOX_BASE_PORT=4000 make dev", file=sys.stderr)
        return 1
    except FunctionError as exc:
        print(f"Could not start the sandbox: {exc} (its traceback is logged above)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    described = sandbox.local()
    try:
        local.write(described)  # .sandbox/ in this directory: where a second shell and the tools find it
        print(_how_to(sandbox), flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        local.remove(described)
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
