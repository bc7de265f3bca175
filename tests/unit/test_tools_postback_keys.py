"""python -m tools postback-keys: creating, rotating and retiring keys of the ring."""

from __future__ import annotations

import json

import boto3
import pytest
from avocette.security import KeyRing

from tools.__main__ import main


def ring(secret_id: str) -> dict[str, object]:
    return json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


def test_rotate_creates_the_first_key_then_adds_and_retires(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="keys", SecretString='{"current": "", "keys": {}}')["ARN"]
    assert main(["postback-keys", "rotate", "--secret-id", arn]) == 0
    first = ring(arn)
    assert first["current"] == "1" and set(first["keys"]) == {"1"}  # type: ignore[arg-type]
    token = KeyRing.from_secret(first).postback_token("pay-1")

    assert main(["postback-keys", "rotate", "--secret-id", arn]) == 0
    second = ring(arn)
    assert second["current"] == "2" and KeyRing.from_secret(second).verify_postback_token("pay-1", token)

    assert main(["postback-keys", "retire", "--secret-id", arn, "2"]) == 2  # the current key stays
    assert main(["postback-keys", "retire", "--secret-id", arn, "1"]) == 0
    assert not KeyRing.from_secret(ring(arn)).verify_postback_token("pay-1", token)
    output = capsys.readouterr().out
    assert all(key not in output for key in second["keys"].values())  # type: ignore[union-attr]
