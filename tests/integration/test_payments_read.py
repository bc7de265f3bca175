"""GET /payments (pages, opaque cursor) and GET /payments/{paymentId} (ownership)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from avocette import clock

from tests.helpers import Stack, add_account, add_invoice, get_payment, http_event, invoke, start_payment


def list_payments(sub: str, **query: str) -> Any:
    return invoke("payments", http_event("GET", "/payments", sub=sub, query=query or None))


@pytest.fixture
def five_payments(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """alice starts five payments, a second apart (createdAt has whole seconds); ids, oldest first."""
    add_account("A-1", linked_to=("alice",))
    began = clock.utc_now()
    ids = []
    for n in range(5):
        with monkeypatch.context() as patch:
            patch.setattr(clock, "utc_now", lambda n=n: began + timedelta(seconds=n))
            add_invoice("A-1", f"I-{n}", f"{10 + n}.00")
            answer = start_payment("alice", [("A-1", f"I-{n}")])
        assert answer.status == 201
        ids.append(answer.json["paymentId"])
    return ids


def test_pages_newest_first_with_a_cursor(five_payments: list[str]) -> None:
    first = list_payments("alice", limit="2")
    assert first.status == 200
    assert [p["paymentId"] for p in first.json["payments"]] == five_payments[::-1][:2]
    second = list_payments("alice", limit="2", cursor=first.json["nextCursor"])
    third = list_payments("alice", limit="2", cursor=second.json["nextCursor"])
    seen = [p["paymentId"] for page in (first, second, third) for p in page.json["payments"]]
    assert seen == five_payments[::-1]
    assert (
        "nextCursor" not in third.json or not list_payments("alice", cursor=third.json["nextCursor"]).json["payments"]
    )


def test_default_page_and_view_fields(five_payments: list[str]) -> None:
    answer = list_payments("alice")
    views = answer.json["payments"]
    assert len(views) == 5 and "nextCursor" not in answer.json
    assert set(views[0]) >= {
        "paymentId",
        "status",
        "final",
        "statusMessage",
        "billerName",
        "billerTimeZone",
        "receiptReference",
        "amountDue",
        "createdAt",
        "sessionExpiresAt",
        "invoices",
    }
    assert views[0]["billerTimeZone"] == "America/New_York"  # BILLER_TIME_ZONE as the template sets it


def test_someone_else_sees_none_of_them(five_payments: list[str]) -> None:
    answer = list_payments("bob")
    assert answer.status == 200 and answer.json == {"payments": []}


def test_a_cursor_that_is_not_one_is_422(five_payments: list[str]) -> None:
    cursor = list_payments("alice", limit="2").json["nextCursor"]
    for bad in ("x" + cursor, "garbage", "", "%%%", cursor + "A" * 300):
        answer = list_payments("alice", limit="2", cursor=bad)
        if bad == "":  # no cursor: the first page
            assert answer.status == 200
            continue
        assert (answer.status, answer.json["error"]) == (422, "invalid_cursor"), bad


def test_a_cursor_only_moves_within_the_callers_own_payments(five_payments: list[str], stack: Stack) -> None:
    """A cursor is a position, not a key: it carries no partition and needs no signing key (DESIGN §7).
    Another user's cursor, or one made up, pages through the caller's own payments only."""
    import base64

    cursor = list_payments("alice", limit="2").json["nextCursor"]
    others = list_payments("bob", limit="2", cursor=cursor)
    assert others.status == 200 and others.json["payments"] == []
    made_up = base64.urlsafe_b64encode(b"2999-01-01T00:00:00Z#zzzz").decode().rstrip("=")
    page = list_payments("alice", limit="50", cursor=made_up)
    assert page.status == 200
    assert {p["paymentId"] for p in page.json["payments"]} <= set(five_payments)


@pytest.mark.parametrize("limit", ["0", "51", "-1", "ten"])
def test_limit_out_of_range_is_422(stack: Stack, limit: str) -> None:
    answer = list_payments("alice", limit=limit)
    assert (answer.status, answer.json["error"]) == (422, "validation_error")


def test_another_users_payment_answers_like_a_missing_one(stack: Stack) -> None:
    add_account("A-1", linked_to=("alice",))
    add_invoice("A-1", "I-1", "10.00")
    payment_id = start_payment("alice", [("A-1", "I-1")]).json["paymentId"]
    assert get_payment("alice", payment_id).status == 200
    theirs = get_payment("bob", payment_id)
    missing = get_payment("bob", "00000000-0000-4000-8000-000000000000")
    assert theirs.status == missing.status == 404
    assert theirs.json == missing.json and theirs.json["error"] == "payment_not_found"
