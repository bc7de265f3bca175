"""Invoice Cloud's postback: its fields (DESIGN §4), what we keep of them, identity and digest.

IC signs nothing; the token in our PostBackURL authenticates the call before this module sees it.
Only the kept fields are ever stored; the payer's name, address and ``RemoteIP`` are dropped here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from avocette import money

__all__ = ["KEPT_FIELDS", "POSTBACK_FIELDS", "Postback", "parse_postback", "read_postback_fields"]

POSTBACK_FIELDS = (
    "BillerGUID",
    "PaymentDate",
    "InvoiceNumber",
    "Approved",
    "CustomerName",
    "CustomerAddress",
    "CustomerCity",
    "CustomerState",
    "CustomerZip",
    "PaymentGUID",
    "PaymentAmount",
    "PaymentDescription",
    "PaymentTypeID",
    "CardType",
    "PaymentMessage",
    "BillerReference",
    "ConvenienceFee",
    "RemoteIP",
)
KEPT_FIELDS = (
    "PaymentGUID",
    "InvoiceNumber",
    "Approved",
    "PaymentAmount",
    "ConvenienceFee",
    "PaymentTypeID",
    "CardType",
    "PaymentDate",
    "BillerGUID",
    "BillerReference",
)
_CANONICAL = {name.lower(): name for name in KEPT_FIELDS}
_MAX_VALUE_LENGTH = 256


def read_postback_fields(body: str, query: Mapping[str, str]) -> dict[str, str]:
    """The postback's kept fields: from the form-encoded body when it is not empty, else from the
    query string (``token`` is ours, not IC's). Unknown fields are dropped without being looked at;
    field names match case-insensitively and the first value of a repeated field wins."""
    if body.strip():
        pairs = parse_qsl(body, keep_blank_values=True)
    else:
        pairs = [(name, value) for name, value in query.items() if name != "token"]
    kept: dict[str, str] = {}
    for name, value in pairs:
        canonical = _CANONICAL.get(name.strip().lower())
        if canonical is not None and canonical not in kept:
            kept[canonical] = value.strip()[:_MAX_VALUE_LENGTH]
    return kept


@dataclass(frozen=True)
class Postback:
    """A postback's kept fields, read. ``problem`` says why it cannot be processed (400)."""

    fields: Mapping[str, str]
    payment_guid: str
    invoice_number: str
    approved: bool | None
    amount_cents: int | None
    fee_cents: int
    card_type: str
    payment_type_id: str
    biller_guid: str
    biller_reference: str
    problem: str | None

    @property
    def digest(self) -> str:
        """sha256 of the kept fields: the same key with another digest is a conflicting postback."""
        canonical = json.dumps(dict(sorted(self.fields.items())), separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def identity(self) -> str:
        """sha256(PaymentGUID, InvoiceNumber, Approved): one postback, however often it arrives."""
        if self.problem is not None:
            return "invalid-" + self.digest
        approved = "true" if self.approved else "false"
        material = "\x1f".join((self.payment_guid, self.invoice_number, approved))
        return hashlib.sha256(material.encode()).hexdigest()

    def credit_cents(self, *, amount_includes_fee: bool) -> int:
        """What reaches the biller: the amount, less the fee when IC's amount includes it."""
        amount = self.amount_cents or 0
        return amount - self.fee_cents if amount_includes_fee else amount

    @property
    def payment_method(self) -> str:
        # IC sends a CardType only for card payments; anything else on an approval is a bank debit.
        return "CARD" if self.card_type else "ACH"


def _read_amount(text: str | None) -> tuple[int | None, bool]:
    """(cents, readable): a blank or absent amount is ``None`` and readable."""
    if text is None or not text.strip():
        return None, True
    try:
        return money.parse_cents(text), True
    except money.MoneyError:
        return None, False


def parse_postback(fields: Mapping[str, str]) -> Postback:
    """Read kept fields; never raises. A missing ``PaymentGUID`` or ``Approved``, or an amount that
    cannot be read, sets ``problem``."""
    approved_text = fields.get("Approved", "").strip().lower()
    approved = {"true": True, "false": False}.get(approved_text)
    amount_cents, amount_ok = _read_amount(fields.get("PaymentAmount"))
    fee_cents, fee_ok = _read_amount(fields.get("ConvenienceFee"))
    problem = None
    if not fields.get("PaymentGUID"):
        problem = "missing_payment_guid"
    elif approved is None:
        problem = "missing_approved"
    elif not amount_ok or not fee_ok or (approved and amount_cents is None):
        problem = "amount_unreadable"
    return Postback(
        fields=dict(fields),
        payment_guid=fields.get("PaymentGUID", ""),
        invoice_number=fields.get("InvoiceNumber", ""),
        approved=approved,
        amount_cents=amount_cents,
        fee_cents=fee_cents or 0,
        card_type=fields.get("CardType", ""),
        payment_type_id=fields.get("PaymentTypeID", ""),
        biller_guid=fields.get("BillerGUID", ""),
        biller_reference=fields.get("BillerReference", ""),
        problem=problem,
    )
