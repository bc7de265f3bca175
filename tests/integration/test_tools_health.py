"""``python -m tools health`` against the sandbox (started in-process on free ports): it passes on a
healthy stack, and fails, naming the check, when Invoice Cloud cannot be reached, a secret is
emptied or a job stopped running. No secret value is ever printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
import requests
from avocette import clock

from sandbox.runner import Sandbox, SandboxPorts
from sandbox.serving import free_port
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
