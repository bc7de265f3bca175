"""``python -m tools tieout DATE`` on moto: the day's tie-out as the export function wrote it, as a
table; computed afresh with ``--recompute``; and every failure in one line, without a traceback."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
import requests
from avocette import clock
from avocette.service import export
from avocette.service.reconcile import reconcile_s3_object
from avocette.service.reconcile_rows import ReconcileRules
from avocette.service.tieout import TieOutRules
from avocette.store import payments as payments_store
from avocette.store.table import dynamodb

from tests.helpers import Stack, add_account, add_invoice, session_id_of, start_payment, table_items
from tools.__main__ import main


def paid_and_tied_out(stack: Stack) -> tuple[str, str]:
    """Alice pays by card (the simulator's postback cannot reach this stack), Invoice Cloud's file of the
    day is reconciled and recovers it, the night's job runs for the day (of the biller's zone): (the
    day, the payment id)."""
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    payment = payments_store.get_payment(payment_id)
    assert payment is not None and payment.payment_url
    session = session_id_of(payment.payment_url)
    answer = requests.post(f"{stack.simulator_url}/_sim/sessions/{session}/complete", json={"outcome": "approve"},
                           timeout=30)  # fmt: skip
    assert answer.status_code == 200
    written = stack.simulator.write_payment_file({})
    bucket = stack.names.inbound_bucket
    boto3.client("s3").put_object(Bucket=bucket, Key=written["key"], Body=stack.simulator.payment_file(written["key"]))
    assert reconcile_s3_object(bucket, written["key"], rules=ReconcileRules.from_environment()).counts.recovered == 1
    rules = TieOutRules.from_environment()
    day = clock.utc_now().astimezone(rules.zone).date()
    done = export.close_day(day, rules=rules)
    assert done["tieOut"][0]["tiesOut"], done
    return day.isoformat(), payment_id


def test_a_day_that_ties_out_prints_as_a_table_and_exits_0(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    day, _ = paid_and_tied_out(stack)
    capsys.readouterr()  # the functions' log lines
    assert main(["tieout", day]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Tie-out of {day} (America/New_York): TIES OUT (within its 2 grace days; computed ")
    assert lines[2].split() == ["payments", "30.00", "30.00", "30.00", "30.00"]
    assert "Differences: none" in lines
    assert main(["tieout", day, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tiesOut"] is True


def test_recomputed_after_a_credit_is_removed_by_hand_the_day_names_the_payment(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    day, payment_id = paid_and_tied_out(stack)
    capsys.readouterr()
    (entry,) = table_items(stack, "LEDGER#")
    dynamodb().delete_item(TableName=stack.names.app_table, Key={"PK": {"S": entry["PK"]}, "SK": {"S": entry["SK"]}})
    assert main(["tieout", day]) == 0  # the file as the night's job wrote it
    assert main(["tieout", day, "--recompute"]) == 1
    out = "\n".join(line for line in capsys.readouterr().out.splitlines() if not line.startswith("{"))
    assert "DOES NOT TIE OUT" in out
    named = [line for line in out.splitlines() if payment_id in line]
    assert any(line.strip().startswith("invoice_cloud: not_in_ledger:") for line in named), out
    assert any(line.strip().startswith("export: not_in_ledger PAYMENT:") for line in named), out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["tieout", "2026-13-01"], "error: '2026-13-01' is not a day as YYYY-MM-DD"),
        (["tieout", "2001-01-01"], "error: no tie-out of 2001-01-01 in s3://avocette-exports/tieout/2001-01-01.json"),
    ],
)
def test_what_cannot_be_shown_is_one_line(
    stack: Stack, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(arguments) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(message) and captured.out == ""


def test_a_missing_setting_is_one_line_naming_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INBOUND_BUCKET_NAME")
    assert main(["tieout", (clock.utc_now() - timedelta(days=1)).date().isoformat(), "--recompute"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "error: invalid or missing settings: INBOUND_BUCKET_NAME"
