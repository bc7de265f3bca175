"""``python -m tools reconcile FILE``: the Lambda's own reconciliation, by hand, with a progress bar,
a report beside the file, and the run recorded as the function records it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from avocette.store import payments as payments_store

from tests.helpers import Stack, add_account, add_invoice, get_invoice, get_payment, session_id_of, start_payment
from tools.__main__ import main


def test_a_file_reconciled_by_hand_recovers_the_lost_postback(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    stack.simulator.update_config({"dropPostbacks": True})
    payment = payments_store.get_payment(payment_id)
    assert payment is not None and payment.payment_url
    session = session_id_of(payment.payment_url)
    paid = requests.post(
        f"{stack.simulator_url}/_sim/sessions/{session}/complete", json={"outcome": "approve"}, timeout=30
    )
    assert paid.status_code == 200 and get_payment("alice", payment_id).json["status"] == "PENDING"
    written = stack.simulator.write_payment_file({})
    path = tmp_path / Path(written["key"]).name
    path.write_bytes(stack.simulator.payment_file(written["key"]) or b"")

    status = main(["reconcile", str(path), "--table", stack.names.app_table])

    out = capsys.readouterr()
    assert status == 0, [line for line in out.out.splitlines() if not line.startswith("{")]
    assert "recovered 1" in out.out and "1/1 rows" in out.err
    report = json.loads(path.with_name(path.name + ".report.json").read_text())
    assert report["counts"]["recovered"] == 1 and report["status"] == "IMPORTED"
    assert get_payment("alice", payment_id).json["status"] == "APPROVED"
    assert get_invoice("A-1", "I-1").payable_cents() == 0


def test_a_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reconcile", str(tmp_path / "2026-11-25.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
