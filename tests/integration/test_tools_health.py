"""``python -m tools health`` against the sandbox (started in-process on free ports): it passes on a
healthy stack, and fails, naming the check, when Invoice Cloud cannot be reached, a secret is
emptied or a job stopped running. No secret value is ever printed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
import requests
from avocette import clock

from sandbox.runner import Sandbox, SandboxPorts
from sandbox.serving import free_port
from stackdef.template import ROOT
from tools.__main__ import main
from tools.health import Targets, run_checks, targets_from_stack

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = Sandbox(SandboxPorts.free(), schedule_seconds=0)
    running.start()
    try:
        for job in ("ExpirePaymentsFunction", "ExportPaymentsFunction"):
            requests.post(f"{running.gateway_url}/dev/run/{job}", timeout=60).raise_for_status()
        yield running
    finally:
        running.stop()


def health(sandbox: Sandbox, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, str]]:
    """Run the command; its exit status and its lines by check name."""
    status = main(
        ["--endpoint", sandbox.moto_url, "health", "--sandbox", "--ic-base-url", sandbox.simulator_url, *extra]
    )
    out = capsys.readouterr().out
    for value in sandbox.secrets.all_values():
        assert value not in out
    lines = {}
    for line in out.splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in ("ok", "FAIL"):
            name, _, detail = rest.strip().partition(": ")
            lines[name] = f"{verdict} {detail}"
    return status, lines


def failing(lines: dict[str, str]) -> set[str]:
    return {name for name, text in lines.items() if text.startswith("FAIL")}


def test_a_healthy_sandbox_passes_every_check(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = health(sandbox, capsys)

    assert status == 0, lines
    assert set(lines) == {
        "secret invoice-cloud",
        "secret postback-keys",
        "secret registration-hash-key",
        "invoice-cloud",
        "table app",
        "table idempotency",
        "bucket billing",
        "bucket inbound",
        "bucket exports",
        "job expiry",
        "job export",
        "job reconciliation",
    }
    assert not failing(lines)
    assert "answers Active" in lines["invoice-cloud"]
    assert lines["secret postback-keys"].startswith("ok current key 2, 2 key(s)")
    assert lines["job expiry"].startswith("ok last run 0 min ago")
    assert "rows" in lines["job export"]


def test_a_stopped_simulator_fails_the_invoice_cloud_check(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}"

    status = main(["--endpoint", sandbox.moto_url, "health", "--sandbox", "--ic-base-url", nothing_listens])

    out = capsys.readouterr().out
    assert status == 1
    assert f"FAIL invoice-cloud: {nothing_listens}/api/v1/biller/status could not be reached" in out
    assert "1 of 12 checks failed: invoice-cloud" in out


def test_a_biller_invoice_cloud_switched_off_fails(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    requests.post(f"{sandbox.simulator_url}/_sim/config", json={"billerStatus": "Inactive"}, timeout=10)
    try:
        status, lines = health(sandbox, capsys)
    finally:
        requests.post(f"{sandbox.simulator_url}/_sim/config", json={"billerStatus": "Active"}, timeout=10)

    assert status == 1 and failing(lines) == {"invoice-cloud"}
    assert "'Inactive', not 'Active'" in lines["invoice-cloud"]


EMPTIED = {
    "secret invoice-cloud": (
        "ic_secret_name",
        {"apiKey": "", "billerGuid": "", "webServiceKey": ""},
        "empty or missing: apiKey, billerGuid, webServiceKey",
    ),
    "secret postback-keys": ("postback_keys_secret_name", {"current": "", "keys": {}}, "malformed: no keys"),
}


@pytest.mark.parametrize("check", sorted(EMPTIED))
def test_an_emptied_secret_fails_naming_it(sandbox: Sandbox, capsys: pytest.CaptureFixture[str], check: str) -> None:
    secret, emptied, reason = EMPTIED[check]
    client = boto3.client("secretsmanager", endpoint_url=sandbox.moto_url)
    secret_id = getattr(sandbox.names, secret)
    saved = client.get_secret_value(SecretId=secret_id)["SecretString"]
    client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(emptied))
    try:
        status, lines = health(sandbox, capsys)
    finally:
        client.put_secret_value(SecretId=secret_id, SecretString=saved)

    assert status == 1
    assert lines[check].startswith(f"FAIL {reason}")
    # Without the API key, Invoice Cloud is not asked at all.
    expected = {check, "invoice-cloud"} if check == "secret invoice-cloud" else {check}
    assert failing(lines) == expected


def test_a_job_that_stopped_running_fails(sandbox: Sandbox) -> None:
    targets = Targets(
        app_table=sandbox.names.app_table,
        inbound_bucket=sandbox.names.inbound_bucket,
        ic_base_url=sandbox.simulator_url,
    )
    later = clock.utc_now() + timedelta(minutes=20)

    checks = {check.name: check for check in run_checks(targets, now=later)}

    assert not checks["job expiry"].ok and "over 0:15:00" in checks["job expiry"].detail
    assert checks["job export"].ok  # daily: 20 minutes are nothing
    assert not checks["table idempotency"].ok and "--idempotency-table" in checks["table idempotency"].detail


def test_a_deployed_stack_is_read_from_its_outputs_and_parameters() -> None:
    targets = targets_from_stack(
        {
            "AppTableName": "app",
            "IdempotencyTableName": "idem",
            "InvoiceCloudSecretArn": "arn:ic",
            "PostbackKeysSecretArn": "arn:keys",
            "RegistrationHashKeySecretArn": "arn:hash",
            "BillingBucketName": "billing",
            "InboundBucketName": "inbound",
            "ExportsBucketName": "exports",
            "ApiUrl": "https://api",
        },
        {"InvoiceCloudBaseUrl": "https://www.invoicecloud.com", "InvoiceCloudBasicAuthForm": "key-colon"},
    )

    assert targets == Targets(
        app_table="app",
        idempotency_table="idem",
        ic_secret="arn:ic",
        postback_keys_secret="arn:keys",
        hash_key_secret="arn:hash",
        billing_bucket="billing",
        inbound_bucket="inbound",
        exports_bucket="exports",
        ic_base_url="https://www.invoicecloud.com",
        ic_basic_auth_form="key-colon",
    )


# ---- no sandbox, or no AWS, where the command looks -------------------------------------------------


def health_command(**environment: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m tools health --sandbox`` as a person runs it: a new process, only what is given set."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SANDBOX_", "AWS_"))}
    env.update(environment)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tools", "health", "--sandbox"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, time.monotonic() - started


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_no_sandbox_on_the_port_set_fails_at_once_in_one_line_saying_what_to_set() -> None:
    base = free_port()
    result, seconds = health_command(SANDBOX_BASE_PORT=str(base))

    assert result.returncode == 2 and seconds < 15, (result, seconds)
    assert result.stdout == "" and "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert f"no sandbox answers at http://127.0.0.1:{base + 2}" in line
    assert f"SANDBOX_BASE_PORT={base}" in line and "make dev" in line


def test_no_sandbox_on_the_default_port_says_the_port_is_not_set() -> None:
    if listening(3002):
        pytest.skip("something listens on 3002 (a `make dev` on the default ports?)")
    result, seconds = health_command()

    assert result.returncode == 2 and seconds < 15, (result, seconds)
    (line,) = result.stderr.splitlines()
    assert "no sandbox answers at http://127.0.0.1:3002" in line
    assert "SANDBOX_BASE_PORT is not set" in line and "make dev" in line


def test_a_port_that_is_not_a_number_is_one_line() -> None:
    result, _ = health_command(SANDBOX_BASE_PORT="three thousand")

    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert "SANDBOX_BASE_PORT" in line and "port number" in line


def test_aws_that_stops_answering_fails_each_check_quickly_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sandbox stopped after the command looked (or a wrong --endpoint): every check says so in its
    line, in seconds, instead of retrying for minutes and ending in a traceback."""
    from stackdef import caches
    from stackdef.names import StackNames

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    caches.reset()
    names = StackNames()
    targets = Targets(
        app_table=names.app_table,
        idempotency_table=names.idempotency_table,
        ic_secret=names.ic_secret_name,
        postback_keys_secret=names.postback_keys_secret_name,
        hash_key_secret=names.registration_hash_secret_name,
        billing_bucket=names.billing_bucket,
        inbound_bucket=names.inbound_bucket,
        exports_bucket=names.exports_bucket,
        ic_base_url=f"http://127.0.0.1:{free_port()}",
    )
    started = time.monotonic()
    try:
        checks = run_checks(targets)
    finally:
        caches.reset()

    assert time.monotonic() - started < 30
    assert len(checks) == 12 and not [check.name for check in checks if check.ok]
    for check in checks:
        assert "could not be reached" in check.detail or "not tried" in check.detail, check.line()
