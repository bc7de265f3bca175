"""GET /accounts, and that nobody sees or pays an account they did not prove."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from avocette.domain.billing import Credit, Invoice
from avocette.store import billing

from tests.helpers import AS_OF, Stack, add_account, add_invoice, get_payment, http_event, invoke, start_payment


def accounts(sub: str) -> Any:
    return invoke("accounts", http_event("GET", "/accounts", sub=sub))


@pytest.fixture
def alice(stack: Stack) -> Stack:
    add_account("A-1", name="Alice Anders", linked_to=("alice",), registration_value="A1-REG")
    add_invoice("A-1", "I-2", "42.15", minimum="10.00", allow_partial=True)
    add_invoice("A-1", "I-1", "84.20")
    add_account("A-2", name="Alice Anders", linked_to=("alice",))
    add_invoice("A-2", "I-3", "-5.00")
    add_account("B-1", name="Bob Brennan", linked_to=("bob",), registration_value="B1-REG")
    add_invoice("B-1", "I-9", "63.75")
    return stack


def test_linked_accounts_with_invoices_payable_and_totals(alice: Stack) -> None:
    answer = accounts("alice")
    assert answer.status == 200
    body = answer.json
    assert body["totalDue"] == "126.35"
    first, second = body["accounts"]
    assert (first["accountNumber"], first["name"], first["totalDue"]) == ("A-1", "Alice Anders", "126.35")
    assert first["invoices"][0] == {
        "invoiceNumber": "I-1", "invoiceDate": "2026-10-28", "dueDate": "2026-11-20", "balanceDue": "84.20",
        "allowPartialPayments": False, "payable": "84.20", "hasStatement": False,
    }  # fmt: skip
    assert first["invoices"][1]["minimumAmountDue"] == "10.00" and first["invoices"][1]["allowPartialPayments"] is True
    credit = second["invoices"][0]
    assert (credit["balanceDue"], credit["payable"], second["totalDue"]) == ("-5.00", "0.00", "0.00")


def test_payable_goes_down_with_credits_the_bill_does_not_show_yet(alice: Stack) -> None:
    later = datetime(2026, 11, 20, tzinfo=UTC)
    add_invoice("A-1", "I-1", "84.20", credits={"p-1": Credit(payment_id="p-0", cents=2000, approved_at=later)})
    invoice = next(i for i in accounts("alice").json["accounts"][0]["invoices"] if i["invoiceNumber"] == "I-1")
    assert (invoice["balanceDue"], invoice["payable"]) == ("84.20", "64.20")


def test_closed_invoices_are_not_listed(alice: Stack) -> None:
    billing.put_invoice(
        Invoice(account_number="A-1", invoice_number="I-0", billed_cents=100, billed_as_of=AS_OF, closed_at=AS_OF)
    )
    assert [i["invoiceNumber"] for i in accounts("alice").json["accounts"][0]["invoices"]] == ["I-1", "I-2"]


def test_no_links_is_registration_required(alice: Stack) -> None:
    answer = accounts("carol")
    assert (answer.status, answer.json["error"]) == (403, "registration_required")


def test_a_user_never_sees_or_pays_an_account_they_did_not_prove(alice: Stack) -> None:
    # Bob sees only his own account
    assert [a["accountNumber"] for a in accounts("bob").json["accounts"]] == ["B-1"]
    # cannot pay Alice's invoice, which answers like an unknown one
    theirs = start_payment("bob", [("A-1", "I-1")])
    unknown = start_payment("bob", [("B-1", "NOPE")])
    assert theirs.status == unknown.status == 404 and theirs.json == unknown.json
    # cannot read Alice's payment
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    assert get_payment("bob", payment_id).status == 404
    # and after proving his own account only, still nothing of Alice's
    invoke(
        "register_user",
        http_event(
            "POST",
            "/registrations",
            sub="bob",
            body={"accounts": [{"accountNumber": "A-1", "registrationValue": "B1-REG"}]},
        ),
    )
    assert [a["accountNumber"] for a in accounts("bob").json["accounts"]] == ["B-1"]
    assert start_payment("bob", [("A-1", "I-2")]).status == 404
