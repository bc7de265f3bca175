"""``python -m sandbox`` (what ``make dev`` runs): the whole stack on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings

from sandbox.runner import DEFAULT_BASE_PORT, Sandbox, SandboxPorts


def _how_to(sandbox: Sandbox) -> str:
    api = sandbox.gateway_url
    return f"""
avocette-payments sandbox is ready.

  Portal and API   {api}/
  OpenAPI          {api}/openapi.json
  Invoice Cloud    {sandbox.simulator_url}/   (simulator; control API under /_sim/)
  AWS (moto)       {sandbox.moto_url}

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

Demo users: alice (ACCT-1001, ACCT-1002), bob (ACCT-2001), carol (ACCT-3001, ACCT-3002 to register).
Press Ctrl-C to stop; every run starts from the demo data with fresh keys.
"""


def main() -> int:
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    base = int(os.environ.get("SANDBOX_BASE_PORT", DEFAULT_BASE_PORT))
    sandbox = Sandbox(SandboxPorts.from_base(base))
    try:
        sandbox.start()
    except OSError as exc:
        print(f"Could not start the sandbox on ports {base}-{base + 2}: {exc}", file=sys.stderr)
        print("Set SANDBOX_BASE_PORT to move it, e.g. SANDBOX_BASE_PORT=4000 make dev", file=sys.stderr)
        return 1
    print(_how_to(sandbox), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
