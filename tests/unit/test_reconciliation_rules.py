"""The rules of DESIGN §6d and §6e without AWS: reading Invoice Cloud's payment file by its format,
what a reversal takes back, what a file row does through the postback rules, the export's bytes."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from avocette.biller.export_file import get_export_format
from avocette.domain.billing import Credit, Invoice
from avocette.domain.export import export_rows
from avocette.domain.ledger import LedgerEntry
from avocette.domain.payments import Payment, PaymentLine, PaymentStatus
from avocette.domain.postbacks import (
    Decision,
    Outcome,
    PostbackValues,
    ReceivedPostback,
    RecordedPostback,
    ReviewReason,
    conflict_key,
    decide_postback,
)
from avocette.domain.reconciliation import (
    PaymentFileRow,
    ReversalOutcome,
    RowKind,
    plan_reversal,
    postback_from_row,
    reversal_identity,
    row_identity,
)
from avocette.invoicecloud.payment_file import FormatError, PaymentFileFormat, get_payment_file_format
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
EASTERN = ZoneInfo("America/New_York")
HEADER = (
    "AccountNumber,InvoiceNumber,Amount,PaymentDate,Kind,Method,CardType,ConvenienceFee,ReasonCode,TransactionDate,"
    "InvoiceCloudPaymentId,Reference,PostedAt"
)
FORMAT = get_payment_file_format("invoicecloud-payments-v1")
S = PaymentStatus


def row(kind: RowKind = RowKind.PAYMENT, cents: int = 3000, **fields: object) -> PaymentFileRow:
    values: dict[str, object] = {
        "line": 2,
        "kind": kind,
        "payment_guid": "G-1",
        "biller_reference": "pay-1",
        "account_number": "A",
        "invoice_number": "I-1",
        "cents": cents,
        "fee_cents": 0,
        "at": NOW,
        "payment_type_id": "1",
    }
    values.update(fields)
    return PaymentFileRow(**values)  # type: ignore[arg-type]


def payment(status: PaymentStatus = S.APPROVED, paid: tuple[int, int] = (3000, 2000)) -> Payment:
    return Payment(
        payment_id="pay-1",
        sub="alice",
        status=status,
        lines=(
            PaymentLine(account_number="A", invoice_number="I-1", due_cents=3000, paid_cents=paid[0]),
            PaymentLine(account_number="A", invoice_number="I-2", due_cents=2000, paid_cents=paid[1]),
        ),
        created_at=NOW - timedelta(days=1),
        session_expires_at=NOW - timedelta(hours=23),
        completed_at=NOW - timedelta(days=1),
    )


def invoice(*credits: tuple[str, Credit]) -> Invoice:
    return Invoice(account_number="A", invoice_number="I-1", billed_cents=3000, billed_as_of=NOW, credits=dict(credits))


def credit(cents: int = 3000, guid: str = "G-1", **extra: object) -> Credit:
    return Credit(payment_id="pay-1", cents=cents, approved_at=NOW - timedelta(days=1), payment_guid=guid, **extra)  # type: ignore[arg-type]


# ---- the format -------------------------------------------------------------------------------------


def test_the_shipped_format_reads_a_row_and_the_day_of_its_key() -> None:
    cells = {
        "TransactionType": "ACH RETURN", "PaymentGUID": "G-1", "BillerReference": "pay-1", "AccountNumber": "A",
        "InvoiceNumber": "I-1", "Amount": "12.50", "ConvenienceFee": "", "TransactionDate": "2026-11-25T19:00:00Z",
        "PaymentTypeID": "2", "ReasonCode": "R01",
    }  # fmt: skip
    read = FORMAT.read_row(7, cells)
    assert isinstance(read, PaymentFileRow)
    assert (read.kind, read.cents, read.fee_cents, read.at, read.reason_code) == (
        RowKind.ACH_RETURN,
        1250,
        0,
        NOW,
        "R01",
    )
    assert str(FORMAT.day_of("invoicecloud/2026-11-25.csv")) == "2026-11-25"
    assert FORMAT.day_of("invoicecloud/25-11-2026.csv") is None and FORMAT.day_of("billing/2026-11-25.csv") is None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("Amount", "12.345", "is not an amount with at most two decimals"),
        ("Amount", "-1.00", "must be between 0 and 1,000,000.00"),
        ("Amount", "٣٠.٠٠", "is not an amount with at most two decimals"),
        ("TransactionType", "RETURNED_CHECK", "is not a kind this format knows"),
        ("TransactionDate", "11/25/2026", "is not a date in the form %Y-%m-%dT%H:%M:%SZ"),
        ("TransactionDate", "0001-01-01T23:59:59Z", "is not a date between 0001-01-02 and 9999-12-30"),
        ("TransactionDate", "9999-12-31T00:00:00Z", "is not a date between 0001-01-02 and 9999-12-30"),
        ("PaymentGUID", "", "is required"),
    ],
)
def test_a_bad_cell_is_reported_by_line_column_and_reason_never_its_value(column: str, value: str, reason: str) -> None:
    cells = {
        "TransactionType": "PAYMENT", "PaymentGUID": "G-1", "BillerReference": "pay-1", "AccountNumber": "A",
        "InvoiceNumber": "I-1", "Amount": "12.50", "TransactionDate": "2026-11-25T19:00:00Z",
    }  # fmt: skip
    cells[column] = value
    problems = FORMAT.read_row(9, cells)
    assert isinstance(problems, list)
    assert [(p.row, p.column, p.reason) for p in problems] == [(9, column, reason)]
    assert all(value not in p.reason for p in problems if value)


@pytest.mark.parametrize("guid", ["G-1\x00", "G-1\r\nX", "G 1", "G\t1", "G-\u00fc", "G" * 65])
def test_a_payment_guid_that_is_not_1_to_64_printable_ascii_characters_is_a_bad_row(guid: str) -> None:
    cells = {
        "TransactionType": "PAYMENT", "PaymentGUID": guid, "BillerReference": "pay-1", "AccountNumber": "A",
        "InvoiceNumber": "I-1", "Amount": "12.50", "TransactionDate": "2026-11-25T19:00:00Z",
    }  # fmt: skip
    problems = FORMAT.read_row(9, cells)
    assert isinstance(problems, list)
    assert [(p.row, p.column, p.reason) for p in problems] == [
        (9, "PaymentGUID", "is not 1 to 64 printable ASCII characters without spaces")
    ]


@pytest.mark.parametrize(
    ("zone", "outside", "inside"),
    [
        ("Asia/Tokyo", "0001-01-01 00:00", "0001-01-02 12:00"),
        ("America/New_York", "9999-12-31 23:59", "9999-12-30 12:00"),
    ],
)
def test_a_date_at_the_calendars_ends_in_a_zone_away_from_utc_is_a_bad_row_never_an_overflow(
    zone: str, outside: str, inside: str
) -> None:
    zoned = FORMAT.model_copy(update={"date_format": "%Y-%m-%d %H:%M", "time_zone": zone})
    cells = {
        "TransactionType": "PAYMENT", "PaymentGUID": "G-1", "BillerReference": "pay-1", "AccountNumber": "A",
        "InvoiceNumber": "I-1", "Amount": "12.50", "TransactionDate": outside,
    }  # fmt: skip
    problems = zoned.read_row(9, cells)
    assert isinstance(problems, list)
    assert [(p.column, p.reason) for p in problems] == [
        ("TransactionDate", "is not a date between 0001-01-02 and 9999-12-30")
    ]
    assert isinstance(zoned.read_row(9, {**cells, "TransactionDate": inside}), PaymentFileRow)


def test_a_header_without_a_needed_column_is_named() -> None:
    assert FORMAT.header_problems(["PaymentGUID", "Amount"]) == [
        "no column 'TransactionType' (kind)",
        "no column 'BillerReference' (billerReference)",
        "no column 'InvoiceNumber' (invoiceNumber)",
        "no column 'TransactionDate' (date)",
    ]


def test_a_format_file_that_is_not_complete_is_refused() -> None:
    with pytest.raises(FormatError):
        get_payment_file_format("no-such-format")
    with pytest.raises(ValueError, match="kinds"):
        PaymentFileFormat.model_validate({**FORMAT.model_dump(by_alias=True), "kinds": {"PAYMENT": ["P"]}})


# ---- a PAYMENT row through the postback rules ------------------------------------------------------


def recorded(file_row: PaymentFileRow, allocation: dict[str, int]) -> dict[str, RecordedPostback]:
    postback = postback_from_row(file_row, payment_type_ids={})
    return {
        postback.identity: RecordedPostback(
            key=postback.identity, postback=postback, outcome=Outcome.APPLIED, reason=None, received_at=NOW,
            source="file", allocation=allocation,
        )
    }  # fmt: skip


def test_a_row_whose_money_was_applied_is_matched_and_another_amount_is_a_mismatch() -> None:
    applied = recorded(row(), {"A/I-1": 3000})
    p = payment()
    file_postback = postback_from_row(row(), payment_type_ids={})
    assert decide_postback(p, file_postback, applied, biller_guid="", source="file").outcome is Outcome.DUPLICATE
    other = postback_from_row(row(cents=2500), payment_type_ids={})
    decision = decide_postback(p, other, applied, biller_guid="", source="file")
    assert (decision.status, decision.reason) == (S.NEEDS_REVIEW, ReviewReason.RECONCILIATION_MISMATCH)


def test_a_row_with_no_postback_is_recovered_by_the_postback_rules() -> None:
    p = payment(S.PENDING, paid=(0, 0))
    decision = decide_postback(p, postback_from_row(row(), payment_type_ids={}), {}, biller_guid="", source="file")
    assert (decision.outcome, decision.allocation) == (Outcome.APPLIED, {0: 3000})


def test_a_postback_after_its_money_was_recovered_from_the_file_is_the_same_money() -> None:
    """Invoice Cloud sent one postback for the payment (no invoice named); the file recovered it
    per invoice first."""
    applied = {**recorded(row(), {"A/I-1": 3000}), **recorded(row(invoice_number="I-2", cents=2000), {"A/I-2": 2000})}
    from avocette.invoicecloud.postback import parse_postback

    late = parse_postback(
        {"PaymentGUID": "G-1", "Approved": "True", "PaymentAmount": "50.00", "InvoiceNumber": ""},
        amount_includes_fee=False,
        payment_type_ids={},
    )
    assert decide_postback(payment(), late, applied, biller_guid="").outcome is Outcome.DUPLICATE


def decide_row(
    p: Payment,
    file_row: PaymentFileRow,
    already: dict[str, RecordedPostback] | None = None,
    *,
    reviewed: dict[str, dict[str, int]] | None = None,
) -> Decision:
    """What a PAYMENT row does, the file listing only it for its payment id."""
    file_postback = postback_from_row(file_row, payment_type_ids={})
    return decide_postback(p, file_postback, already or {}, biller_guid="", source="file", reviewed=reviewed)


def read_before(file_row: PaymentFileRow, key: str | None = None) -> dict[str, RecordedPostback]:
    """The row as recorded while its payment waited for a person: read, not applied."""
    postback = postback_from_row(file_row, payment_type_ids={})
    return {
        key or postback.identity: RecordedPostback(
            key=key or postback.identity, postback=postback, outcome=Outcome.RECORDED, reason=None, received_at=NOW,
            source="file",
        )
    }  # fmt: skip


def applied_by_a_postback(allocation: dict[str, int]) -> dict[str, RecordedPostback]:
    """Money a postback of G-1 applied, by invoice key."""
    postback = postback_from_row(row(), payment_type_ids={})
    return {
        "postback": RecordedPostback(
            key="postback", postback=postback, outcome=Outcome.APPLIED, reason=None, received_at=NOW,
            allocation=allocation,
        )
    }  # fmt: skip


def test_a_row_whose_money_a_person_applied_for_its_payment_id_is_matched() -> None:
    decision = decide_row(payment(), row(), reviewed={"G-1": {"A/I-1": 3000}})
    assert (decision.outcome, decision.status, decision.record_as) == (Outcome.DUPLICATE, S.APPROVED, "")
    elsewhere = decide_row(payment(), row(), reviewed={"G-2": {"A/I-1": 3000}})
    assert (elsewhere.status, elsewhere.reason) == (S.NEEDS_REVIEW, ReviewReason.DUPLICATE_PAYMENT)


def test_a_row_is_matched_by_a_postbacks_money_and_a_persons_together() -> None:
    """A postback of G-1 paid 10.00 of I-1, and a person applied the other 20.00 for G-1."""
    applied = applied_by_a_postback({"A/I-1": 1000})
    decision = decide_row(payment(), row(), applied, reviewed={"G-1": {"A/I-1": 2000}})
    assert (decision.outcome, decision.status) == (Outcome.DUPLICATE, S.APPROVED)


def test_money_of_the_payment_id_on_an_invoice_the_file_does_not_list_is_a_mismatch_however_little() -> None:
    applied = applied_by_a_postback({"A/I-1": 3000, "A/I-2": 1})
    file_row = row()
    decision = decide_row(payment(paid=(3000, 1)), file_row, applied)
    assert (decision.outcome, decision.status, decision.record_as, decision.reason) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        postback_from_row(file_row, payment_type_ids={}).identity,
        ReviewReason.RECONCILIATION_MISMATCH,
    )


def test_a_row_naming_another_payment_is_for_review() -> None:
    file_row = row(biller_reference="pay-2")
    decision = decide_row(payment(S.PENDING, paid=(0, 0)), file_row)
    assert (decision.outcome, decision.status, decision.record_as, decision.reason, decision.allocation) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        postback_from_row(file_row, payment_type_ids={}).identity,
        ReviewReason.BILLER_REFERENCE_MISMATCH,
        {},
    )


@pytest.mark.parametrize("status", [S.NEEDS_REVIEW, S.CLOSED])
def test_a_row_read_before_changes_nothing_while_its_payment_waits_or_once_it_is_closed(status: PaymentStatus) -> None:
    decision = decide_row(payment(status, paid=(0, 2000)), row(), read_before(row()))
    assert (decision.outcome, decision.status, decision.record_as) == (Outcome.DUPLICATE, status, "")


def test_a_row_a_persons_decision_left_out_is_a_mismatch_again_once_per_change_of_the_payment() -> None:
    file_row = row()
    identity = postback_from_row(file_row, payment_type_ids={}).identity
    settled = replace(payment(paid=(0, 2000)), **{"version": 3})
    decision = decide_row(settled, file_row, read_before(file_row))
    assert (decision.outcome, decision.status, decision.record_as, decision.reason) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        f"{identity}-v3",
        ReviewReason.RECONCILIATION_MISMATCH,
    )
    looked_again = {**read_before(file_row), **read_before(file_row, key=f"{identity}-v3")}
    again = decide_row(settled, file_row, looked_again)
    assert (again.outcome, again.status, again.record_as) == (Outcome.DUPLICATE, S.APPROVED, "")
    moved_on = decide_row(replace(settled, **{"version": 5}), file_row, looked_again)
    assert (moved_on.outcome, moved_on.record_as) == (Outcome.REVIEW, f"{identity}-v5")


def test_a_row_read_before_saying_another_amount_is_recorded_beside_it_for_a_person() -> None:
    other = postback_from_row(row(cents=2500), payment_type_ids={})
    decision = decide_row(payment(paid=(0, 2000)), row(cents=2500), read_before(row()))
    assert (decision.outcome, decision.status, decision.record_as, decision.reason) == (
        Outcome.REVIEW,
        S.NEEDS_REVIEW,
        conflict_key(other),
        ReviewReason.RECONCILIATION_MISMATCH,
    )


# ---- reversals ---------------------------------------------------------------------------------------


def test_a_whole_reversal_reverses_the_payment_when_nothing_is_left() -> None:
    p = payment(paid=(3000, 0))
    plan = plan_reversal(p, row(RowKind.VOID), invoice(("pay-1#a", credit())), NOW)
    assert plan.outcome is ReversalOutcome.REVERSED
    assert (plan.after.status, plan.after.amount_paid_cents, plan.after.reversed_cents) == (S.REVERSED, 0, 3000)
    (taken,) = plan.credits
    assert (taken.cents, dict(taken.taken), dict(taken.reversed_after)) == (3000, {"pay-1#a": 3000}, {"pay-1#a": 3000})
    assert plan.identity == reversal_identity(row(RowKind.VOID))


def test_a_part_reversal_leaves_the_payment_approved_with_the_rest() -> None:
    plan = plan_reversal(payment(), row(RowKind.CHARGEBACK, cents=1000), invoice(("pay-1#a", credit())), NOW)
    assert (plan.after.status, plan.after.amount_paid_cents) == (S.APPROVED, 4000)


def test_a_reversal_takes_only_this_payment_ids_credits_and_never_more_than_they_hold() -> None:
    two = invoice(("pay-1#a", credit(1000)), ("pay-1#b", credit(2000, guid="G-2")))
    assert plan_reversal(payment(), row(RowKind.VOID, cents=1500), two, NOW).outcome is ReversalOutcome.REVIEW
    spent = invoice(("pay-1#a", credit(3000, reversed_cents=3000)))
    assert plan_reversal(payment(), row(RowKind.VOID), spent, NOW).outcome is ReversalOutcome.REVIEW


@pytest.mark.parametrize("status", [S.NEEDS_REVIEW, S.REVERSED, S.CLOSED])
def test_a_reversal_of_a_settled_payment_is_recorded_only(status: PaymentStatus) -> None:
    plan = plan_reversal(payment(status), row(RowKind.VOID), invoice(("pay-1#a", credit())), NOW)
    assert (plan.outcome, plan.after.status, plan.credits) == (ReversalOutcome.RECORDED, status, ())


@pytest.mark.parametrize("status", [S.PENDING, S.DECLINED, S.EXPIRED, S.FAILED])
def test_a_reversal_of_money_never_applied_is_for_review(status: PaymentStatus) -> None:
    plan = plan_reversal(payment(status, paid=(0, 0)), row(RowKind.ACH_RETURN), invoice(), NOW)
    assert (plan.outcome, plan.after.status, plan.after.review_reason) == (
        ReversalOutcome.REVIEW,
        S.NEEDS_REVIEW,
        "reconciliation_mismatch",
    )


@given(
    credits=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=4),
    reversals=st.lists(st.integers(min_value=1, max_value=6000), min_size=1, max_size=5),
)
def test_reversed_cents_never_exceed_credited_cents(credits: list[int], reversals: list[int]) -> None:
    """Reversals in any amounts, one after another: each takes only what is left, none more."""
    total = sum(credits)
    held = {f"pay-1#{n}": credit(cents) for n, cents in enumerate(credits)}
    p = Payment(
        payment_id="pay-1", sub="s", status=S.APPROVED,
        lines=(PaymentLine(account_number="A", invoice_number="I-1", due_cents=total, paid_cents=total),),
        created_at=NOW, session_expires_at=NOW, completed_at=NOW,
    )  # fmt: skip
    for n, cents in enumerate(reversals):
        plan = plan_reversal(
            p, row(RowKind.CHARGEBACK, cents=cents, payment_guid="G-1", line=n), invoice(*held.items()), NOW
        )
        if plan.outcome is not ReversalOutcome.REVERSED:
            assert cents > sum(c.remaining_cents for c in held.values()) or p.status is not S.APPROVED
            continue
        for key, after in plan.credits[0].reversed_after.items():
            held[key] = replace(held[key], reversed_cents=after)
            assert after <= held[key].cents
        p = plan.after
        assert p.reversed_cents + p.amount_paid_cents == total
    assert sum(c.reversed_cents for c in held.values()) <= total


# ---- identities and the postback a row stands for ------------------------------------------------------


def test_a_files_stored_keys_are_the_same_in_every_release() -> None:
    """A row read again, in a later file or after a release, must meet what was recorded of it
    (DESIGN §5: ``POSTBACK#F{sha256("file", PaymentGUID, invoice key)}``, ``REVERSAL#{sha256(…)}``)."""
    assert row_identity(row()) == "F" + hashlib.sha256(b"file\x1fG-1\x1fA/I-1").hexdigest()[:63]
    assert (
        reversal_identity(row(RowKind.VOID))
        == hashlib.sha256(b"G-1\x1fVOID\x1fA/I-1\x1f3000\x1f2026-11-25T19:00:00Z\x1f1").hexdigest()
    )
    assert (
        reversal_identity(row(RowKind.VOID, reference="R-9"))
        == hashlib.sha256(b"G-1\x1fVOID\x1fA/I-1\x1fR-9").hexdigest()
    )


def test_a_payment_rows_identity_is_its_payment_id_and_invoice() -> None:
    assert row_identity(row(cents=2500, at=NOW + timedelta(days=1))) == row_identity(row())
    assert row_identity(row(payment_guid="G-2")) != row_identity(row())
    assert row_identity(row(account_number="B")) != row_identity(row())


def test_reversals_are_told_apart_by_their_reference_or_else_their_amount_moment_and_ordinal() -> None:
    void = row(RowKind.VOID)
    same = [reversal_identity(void), reversal_identity(row(RowKind.VOID, line=9))]
    assert same[0] == same[1]
    others = [
        row(RowKind.VOID, cents=2999),
        row(RowKind.VOID, at=NOW + timedelta(seconds=1)),
        row(RowKind.VOID, ordinal=2),
        row(RowKind.CHARGEBACK),
        row(RowKind.VOID, payment_guid="G-2"),
        row(RowKind.VOID, invoice_number="I-2"),
        row(RowKind.VOID, reference="R-1"),
    ]
    assert len({reversal_identity(void), *(reversal_identity(other) for other in others)}) == 1 + len(others)
    # With its own reference, a row is that reference, whatever its amount, moment or ordinal.
    referenced = row(RowKind.VOID, reference="R-1")
    again = row(RowKind.VOID, reference="R-1", cents=1000, at=NOW + timedelta(hours=1), ordinal=2)
    assert reversal_identity(again) == reversal_identity(referenced)
    assert reversal_identity(row(RowKind.VOID, reference="R-2")) != reversal_identity(referenced)


def test_a_payment_row_stands_for_the_postback_invoice_cloud_would_have_sent_for_its_invoice() -> None:
    file_row = row(fee_cents=150, payment_type_id="2", reference="ref-1")
    assert postback_from_row(file_row, payment_type_ids={"2": "ACH"}) == ReceivedPostback(
        identity=row_identity(file_row),
        payment_guid="G-1",
        values=PostbackValues(
            approved=True, invoice_number="I-1", amount_cents=3000, fee_cents=150, payment_type_id="2",
            biller_reference="pay-1", biller_guid="",
        ),
        credit_cents=3000,
        payment_method="ACH",
        card_type="",
        authorization="",
        payment_date="2026-11-25T19:00:00Z",
        account_number="A",
        paid_at=NOW,  # the file's date: the payer's payment date of a recovered payment (DESIGN §6e)
    )  # fmt: skip
    # No fee is no fee field; a payment type the settings do not map is no method.
    bare = postback_from_row(row(payment_type_id="7"), payment_type_ids={"2": "ACH"})
    assert (bare.values.fee_cents, bare.payment_method) == (None, None)


# ---- reversals, more ---------------------------------------------------------------------------------------


def test_a_reversal_takes_from_the_oldest_credits_first_and_no_more_than_its_amount() -> None:
    p = Payment(
        payment_id="pay-1", sub="alice", status=S.APPROVED,
        lines=(PaymentLine(account_number="A", invoice_number="I-1", due_cents=3000, paid_cents=2800),),
        created_at=NOW - timedelta(days=3), session_expires_at=NOW - timedelta(days=3), completed_at=NOW, version=7,
    )  # fmt: skip
    # An earlier reversal took 2.00 of the oldest credit; the keys do not sort as the credits' ages.
    oldest = replace(credit(1000), **{"approved_at": NOW - timedelta(days=3), "reversed_cents": 200})
    held = invoice(("pay-1#b", oldest), ("pay-1#a", credit(1000)), ("pay-1#c", credit(1000)))
    plan = plan_reversal(p, row(RowKind.CHARGEBACK, cents=1500), held, NOW)
    (taken,) = plan.credits
    assert (dict(taken.taken), dict(taken.reversed_after)) == (
        {"pay-1#b": 800, "pay-1#a": 700},
        {"pay-1#b": 1000, "pay-1#a": 700},
    )
    assert (taken.ref, taken.cents, taken.credit_key) == (held.ref, 1500, f"pay-1#R{plan.identity[:23]}")
    assert (plan.after.status, plan.after.version, plan.after.amount_paid_cents) == (S.APPROVED, 8, 1300)
    assert asdict(plan.after.reversals[0]) == {
        "identity": plan.identity, "kind": "CHARGEBACK", "cents": 1500, "at": NOW, "payment_guid": "G-1",
        "invoices": {"A/I-1": 1500},
    }  # fmt: skip


def test_a_reversal_leaving_a_cent_leaves_the_payment_approved() -> None:
    plan = plan_reversal(payment(paid=(3000, 0)), row(RowKind.VOID, cents=2999), invoice(("pay-1#a", credit())), NOW)
    assert (plan.outcome, plan.after.status, plan.after.amount_paid_cents) == (ReversalOutcome.REVERSED, S.APPROVED, 1)


@pytest.mark.parametrize("status", [S.NEEDS_REVIEW, S.REVERSED, S.CLOSED])
def test_a_reversal_recorded_only_moves_the_payments_version_and_nothing_else(status: PaymentStatus) -> None:
    p = replace(payment(status), **{"version": 4})
    plan = plan_reversal(p, row(RowKind.VOID), invoice(("pay-1#a", credit())), NOW)
    assert (plan.identity, plan.outcome, plan.credits) == (
        reversal_identity(row(RowKind.VOID)),
        ReversalOutcome.RECORDED,
        (),
    )
    assert plan.after == replace(p, **{"version": 5})


@pytest.mark.parametrize("status", [S.CREATED, S.PENDING, S.DECLINED, S.EXPIRED, S.FAILED])
def test_a_reversal_of_a_payment_not_approved_is_for_review_whatever_its_invoice_holds(status: PaymentStatus) -> None:
    p = replace(payment(status, paid=(0, 0)), **{"version": 2, "completed_at": None})
    plan = plan_reversal(p, row(RowKind.VOID), invoice(("pay-1#a", credit())), NOW)
    assert (plan.identity, plan.outcome, plan.credits) == (
        reversal_identity(row(RowKind.VOID)),
        ReversalOutcome.REVIEW,
        (),
    )
    assert plan.after == replace(p, **{
            "status": S.NEEDS_REVIEW, "version": 3, "review_reason": "reconciliation_mismatch", "flagged_at": NOW,
            "completed_at": NOW,
        })  # fmt: skip


def test_a_reversal_put_to_review_keeps_when_the_payment_was_completed() -> None:
    p = payment()
    assert p.completed_at is not None
    spent = invoice(("pay-1#a", credit(3000, reversed_cents=3000)))
    plan = plan_reversal(p, row(RowKind.VOID), spent, NOW, identity="replayed")
    assert (plan.identity, plan.outcome) == ("replayed", ReversalOutcome.REVIEW)
    assert (plan.after.status, plan.after.version, plan.after.flagged_at, plan.after.completed_at) == (
        S.NEEDS_REVIEW,
        1,
        NOW,
        p.completed_at,
    )


def test_a_reversal_naming_an_invoice_outside_the_payment_is_for_review() -> None:
    """Only the payment's own lines are reversed, whatever an invoice says it holds."""
    elsewhere = Invoice(
        account_number="A", invoice_number="I-9", billed_cents=3000, billed_as_of=NOW,
        credits={"pay-1#a": credit()},
    )  # fmt: skip
    plan = plan_reversal(payment(), row(RowKind.VOID, invoice_number="I-9"), elsewhere, NOW)
    assert (plan.outcome, plan.after.status, plan.credits) == (ReversalOutcome.REVIEW, S.NEEDS_REVIEW, ())


# ---- the export --------------------------------------------------------------------------------------


def test_the_export_is_ordered_signed_and_the_same_bytes_whatever_the_order_of_the_ledger() -> None:
    entries = [
        LedgerEntry(at=NOW, credit_key="p2#x", payment_id="p2", kind="CHARGEBACK", payment_guid="G-2", method="CARD",
                    source="reversal", invoices={"B/I-9": -500}),
        LedgerEntry(at=NOW - timedelta(hours=1), credit_key="p1#y", payment_id="p1", kind="PAYMENT", payment_guid="G-1",
                    method="ACH", source="postback", invoices={"A/I-1": 3000, "A/I-2": 2000}),
    ]  # fmt: skip
    export_format = get_export_format("biller-export-v1")
    data = export_format.render(export_rows(entries), EASTERN)
    assert data == export_format.render(export_rows(reversed(entries)), EASTERN)
    assert data.decode().split("\r\n") == [
        HEADER,
        "A,I-1,30.00,2026-11-25,PAYMENT,ACH,,0.00,,2026-11-25,G-1,p1,2026-11-25T18:00:00Z",
        "A,I-2,20.00,2026-11-25,PAYMENT,ACH,,0.00,,2026-11-25,G-1,p1,2026-11-25T18:00:00Z",
        "B,I-9,-5.00,2026-11-25,CHARGEBACK,CARD,,0.00,,2026-11-25,G-2,p2,2026-11-25T19:00:00Z",
        "",
    ]


def test_export_cells_a_spreadsheet_would_run_as_formulas_are_quoted_but_negative_amounts_stay_numbers() -> None:
    """OWASP's CSV injection advice: a cell starting with =, +, -, @, tab or CR gets a leading quote;
    the amount column is exempt, so that a reversal's -10.00 is still a number."""
    entries = [
        LedgerEntry(at=NOW, credit_key="k1", payment_id="=1+1", kind="PAYMENT", payment_guid="@SUM(1+1)",
                    method="CARD", source="postback", invoices={"=1+1/+1": 1000}),
        LedgerEntry(at=NOW, credit_key="k2", payment_id="-2+3", kind="VOID", payment_guid="\tG",
                    method="CARD", source="reversal", invoices={"=1+1/+1": -1000}),
        LedgerEntry(at=NOW, credit_key="k3", payment_id="p3", kind="PAYMENT", payment_guid="\rG",
                    method="ACH", source="postback", invoices={"A/I-1": 2500}),
    ]  # fmt: skip
    data = get_export_format("biller-export-v1").render(export_rows(entries), EASTERN)
    assert data.decode().split("\r\n") == [
        HEADER,
        "'=1+1,'+1,10.00,2026-11-25,PAYMENT,CARD,,0.00,,2026-11-25,'@SUM(1+1),'=1+1,2026-11-25T19:00:00Z",
        "'=1+1,'+1,-10.00,2026-11-25,VOID,CARD,,0.00,,2026-11-25,'\tG,'-2+3,2026-11-25T19:00:00Z",
        'A,I-1,25.00,2026-11-25,PAYMENT,ACH,,0.00,,2026-11-25,"\'\rG",p3,2026-11-25T19:00:00Z',
        "",
    ]


def test_at_the_same_moment_a_payment_is_exported_before_its_reversal() -> None:
    """Found by a flaky sandbox test: a chargeback recorded in the same second as its approval came
    first when its credit key sorted first; a reversal can never precede the payment it reverses."""
    entries = [
        LedgerEntry(at=NOW, credit_key="zz-approval", payment_id="p1", kind="PAYMENT", payment_guid="G-1",
                    method="CARD", source="postback", invoices={"A/I-1": 6375}),
        LedgerEntry(at=NOW, credit_key="aa-chargeback", payment_id="p1", kind="CHARGEBACK", payment_guid="G-1",
                    method="CARD", source="reversal", invoices={"A/I-1": -375}),
    ]  # fmt: skip
    for order in (entries, list(reversed(entries))):
        assert [(r.kind, r.cents) for r in export_rows(order)] == [("PAYMENT", 6375), ("CHARGEBACK", -375)]


def test_a_row_for_an_invoice_the_postbacks_did_not_pay_is_a_mismatch_when_they_paid_another() -> None:
    """Found by the soak: Invoice Cloud named the first *requested* invoice (I-2, which allows part
    payments) for a part payment the payer made on I-1; the rules put it on I-2. The file then lists
    the money on I-1: recovering that row as well would credit the same money twice."""
    misplaced = recorded(row(invoice_number="I-2", cents=500), {"A/I-2": 500})
    file_row = postback_from_row(row(invoice_number="I-1", cents=500), payment_type_ids={})
    p = payment(paid=(0, 500))
    decision = decide_postback(p, file_row, misplaced, biller_guid="", source="file", told_by_file={"A/I-1": 500})
    assert (decision.status, decision.reason, decision.allocation) == (
        S.NEEDS_REVIEW,
        ReviewReason.RECONCILIATION_MISMATCH,
        {},
    )
    # A lost per-invoice postback is still recovered: the file lists the invoice that was paid too.
    lost = decide_postback(
        payment(S.APPROVED, paid=(0, 500)),
        postback_from_row(row(invoice_number="I-1", cents=3000), payment_type_ids={}),
        misplaced,
        biller_guid="",
        source="file",
        told_by_file={"A/I-1": 3000, "A/I-2": 500},
    )
    assert (lost.outcome, lost.allocation) == (Outcome.APPLIED, {0: 3000})
