"""Who hears of a bank return (DESIGN §6d): ``ACH_RETURN_NOTICE`` off (Invoice Cloud tells payers of
returns itself) sends no email of ours, on and the payer hears once; other kinds always notify. A
return long after the provisional days is still applied."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
import requests
from avocette import clock
from avocette.service import reconcile
from avocette.service.reconcile_rows import ReconcileRules

from sandbox.mailbox import sent_emails
from tests.helpers import Stack, add_account, add_invoice, get_invoice, get_payment, session_id_of, start_payment


def paid_by(stack: Stack, method: str) -> str:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "30.00")
    answer = start_payment("alice", [("A-1", "I-1")])
    assert answer.status == 201, answer.body
    payment_id = str(answer.json["paymentId"])
    stack.simulator.update_config({"dropPostbacks": True})
    url = get_payment("alice", payment_id).json["paymentUrl"]
    done = requests.post(
        f"{stack.simulator_url}/_sim/sessions/{session_id_of(url)}/complete",
        json={"outcome": "approve", "method": method},
        timeout=30,
    )
    assert done.status_code == 200, done.text
    assert reconcile_today(stack).counts.recovered == 1
    return payment_id


def reconcile_today(stack: Stack, **body: Any) -> Any:
    written = stack.simulator.write_payment_file(body)
    text = (stack.simulator.payment_file(written["key"]) or b"").decode("utf-8-sig")
    return reconcile.reconcile_file(
        lambda: io.StringIO(text, newline=""), key=written["key"], rules=ReconcileRules.from_environment()
    )


def mail_to_alice() -> list[dict[str, Any]]:
    return [m for m in sent_emails() if "alice@example.com" in m["to"]]


@pytest.mark.parametrize("notice", ["true", "false"])
def test_a_bank_return_emails_the_payer_only_when_ach_return_notice_is_on(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, notice: str
) -> None:
    monkeypatch.setenv("ACH_RETURN_NOTICE", notice)
    payment_id = paid_by(stack, "ACH")
    before = len(mail_to_alice())

    report = reconcile_today(
        stack, reversals=[{"billerReference": payment_id, "kind": "ACH_RETURN", "reasonCode": "R01"}]
    )

    assert report.counts.reversed == 1
    assert get_payment("alice", payment_id).json["status"] == "REVERSED"
    assert len(mail_to_alice()) - before == (1 if notice == "true" else 0)


def test_with_ach_return_notice_off_a_chargeback_still_emails_the_payer(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACH_RETURN_NOTICE", "false")
    payment_id = paid_by(stack, "CARD")
    before = len(mail_to_alice())
    assert (
        reconcile_today(stack, reversals=[{"billerReference": payment_id, "kind": "CHARGEBACK"}]).counts.reversed == 1
    )
    assert len(mail_to_alice()) - before == 1


def test_an_unauthorized_return_sixty_days_later_is_still_applied(stack: Stack) -> None:
    payment_id = paid_by(stack, "ACH")
    clock.set_offset(timedelta(days=60))
    try:
        report = reconcile_today(
            stack, reversals=[{"billerReference": payment_id, "kind": "ACH_RETURN", "reasonCode": "R10"}]
        )
    finally:
        clock.set_offset(timedelta())
    assert report.counts.reversed == 1
    assert get_payment("alice", payment_id).json["status"] == "REVERSED"
    assert get_invoice("A-1", "I-1").unpaid_cents == 3000
