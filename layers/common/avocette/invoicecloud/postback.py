"""Invoice Cloud's postback: its fields (DESIGN §4), what we keep of them, identity and digest.

IC signs nothing; the token in our PostBackURL authenticates the call before this module sees it.
Only the kept fields are ever stored; the payer's name, address and ``RemoteIP`` are dropped here.
What the fields mean is read into the domain's :class:`ReceivedPostback`; the decision is the
domain's (``avocette.domain.postbacks``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from avocette import money
from avocette.domain.postbacks import PaymentMethod, PostbackValues, ReceivedPostback, postback_identity

__all__ = [
    "DEFAULT_PAYMENT_DATE_FORMATS",
    "DEFAULT_PAYMENT_DATE_TIME_ZONE",
    "KEPT_FIELDS",
    "MAX_POSTBACK_CENTS",
    "PAYMENT_GUID_RULE",
    "POSTBACK_FIELDS",
    "fields_digest",
    "is_payment_guid",
    "parse_payment_date",
    "parse_postback",
    "read_postback_fields",
]

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
    "PaymentMessage",
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


# Invoice Cloud's id of a payment goes into storage and the biller's export: printable ASCII, no
# spaces, so that no NUL, line break or control character travels with it.
_PAYMENT_GUID = re.compile(r"[\x21-\x7e]{1,64}")
PAYMENT_GUID_RULE = "1 to 64 printable ASCII characters without spaces"


def is_payment_guid(text: str) -> bool:
    """Whether ``text`` may be Invoice Cloud's PaymentGUID: :data:`PAYMENT_GUID_RULE`."""
    return _PAYMENT_GUID.fullmatch(text) is not None


# Invoice Cloud never charges this much in one payment; anything above is not an amount (DESIGN §4).
MAX_POSTBACK_CENTS = 100_000_000
_TRUE_FALSE = {"true": True, "false": False}


def _read_amount(text: str | None) -> tuple[int | None, bool]:
    """(cents, readable): a blank or absent amount is ``None`` and readable. Readable means ASCII
    digits (``money.parse_cents``), not negative, at most 1,000,000.00."""
    if text is None or not text.strip():
        return None, True
    try:
        cents = money.parse_cents(text)
    except money.MoneyError:
        return None, False
    if not 0 <= cents <= MAX_POSTBACK_CENTS:
        return None, False
    return cents, True


def _credit(amount: int | None, fee: int | None, *, amount_includes_fee: bool) -> int | None:
    if amount is None:
        return None
    return amount - (fee or 0) if amount_includes_fee else amount


# PaymentDate's wire form is not known (DESIGN §4a): what the simulator sends, Invoice Cloud's
# receipts' form, then a date alone and RFC 3339. IC_PAYMENT_DATE_FORMATS replaces the list.
DEFAULT_PAYMENT_DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
)
# Invoice Cloud is in Massachusetts: a PaymentDate without an offset is taken as Eastern time.
DEFAULT_PAYMENT_DATE_TIME_ZONE = "America/New_York"
_HOURS = ("%H", "%I", "%X", "%c", "%T", "%R")
# A moment the biller's zone can show: a day inside the calendar's ends.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def parse_payment_date(text: str, formats: Sequence[str], zone: tzinfo) -> datetime | None:
    """Invoice Cloud's PaymentDate as a moment (UTC), by the first of ``formats`` (``strptime``) that
    reads it; ``None`` when it is blank or none does. A value without an offset is in ``zone``; a
    date without a time is taken at noon there, so that it stays on its day in any zone within
    twelve hours of it (what matters of it is the day: late fees are judged by it)."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    for form in formats:
        try:
            moment = datetime.strptime(text, form)
        except ValueError:
            continue
        if not any(hour in form for hour in _HOURS):
            moment = datetime.combine(moment.date(), time(12), tzinfo=moment.tzinfo)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        try:
            at = moment.astimezone(UTC)
        except OverflowError:
            return None
        return at if _EARLIEST <= at <= _LATEST else None
    return None


def parse_postback(
    fields: Mapping[str, str],
    *,
    amount_includes_fee: bool,
    payment_type_ids: Mapping[str, PaymentMethod],
    payment_date_formats: Sequence[str] = DEFAULT_PAYMENT_DATE_FORMATS,
    payment_date_zone: tzinfo | None = None,
) -> ReceivedPostback:
    """The domain's value of a postback's kept fields; never raises. A missing ``PaymentGUID`` or
    ``Approved``, a ``PaymentGUID`` off :data:`PAYMENT_GUID_RULE` (then not read: ``payment_guid`` is
    blank), or an approval's amount or fee that cannot be read (negative, above the amount, not ASCII
    digits, absurdly large) sets ``problem``; a decline moves no money, so whatever its amount and fee
    say is recorded as sent (an unreadable one as none) and never makes it unreadable.
    ``PaymentTypeID`` gives the method through
    ``payment_type_ids`` (IC_PAYMENT_TYPE_IDS); an unmapped id is ``None``, never a guess.
    ``PaymentDate`` is read by :func:`parse_payment_date` (IC_PAYMENT_DATE_FORMATS and
    IC_PAYMENT_DATE_TIME_ZONE); one that cannot be read is no problem: the payment is dated by when
    we received it (DESIGN §6e)."""
    approved = _TRUE_FALSE.get(fields.get("Approved", "").strip().lower())
    amount_cents, amount_ok = _read_amount(fields.get("PaymentAmount"))
    fee_cents, fee_ok = _read_amount(fields.get("ConvenienceFee"))
    guid = fields.get("PaymentGUID", "")
    problem = None
    if not guid:
        problem = "missing_payment_guid"
    elif not is_payment_guid(guid):
        problem, guid = "invalid_payment_guid", ""
    elif approved is None:
        problem = "missing_approved"
    elif approved and (not amount_ok or amount_cents is None):
        problem = "amount_unreadable"
    elif approved and (not fee_ok or (fee_cents and amount_cents is not None and fee_cents > amount_cents)):
        problem = "fee_unreadable"
    values = PostbackValues(
        approved=approved,
        invoice_number=fields.get("InvoiceNumber", ""),
        amount_cents=amount_cents,
        fee_cents=fee_cents,
        payment_type_id=fields.get("PaymentTypeID", ""),
        biller_reference=fields.get("BillerReference", ""),
        biller_guid=fields.get("BillerGUID", "").lower(),
    )
    if problem is None:
        identity = postback_identity(guid, values.invoice_number, approved is True)
    else:
        identity = "invalid-" + fields_digest(fields)
    return ReceivedPostback(
        identity=identity,
        payment_guid=guid,
        values=values,
        credit_cents=_credit(amount_cents, fee_cents, amount_includes_fee=amount_includes_fee),
        payment_method=payment_type_ids.get(values.payment_type_id),
        card_type=fields.get("CardType", ""),
        authorization=fields.get("PaymentMessage", ""),
        payment_date=fields.get("PaymentDate", ""),
        problem=problem,
        paid_at=parse_payment_date(
            fields.get("PaymentDate", ""),
            payment_date_formats,
            payment_date_zone or ZoneInfo(DEFAULT_PAYMENT_DATE_TIME_ZONE),
        ),
    )


def fields_digest(fields: Mapping[str, str]) -> str:
    """sha256 of the kept fields as received: what an unreadable postback is known by."""
    canonical = json.dumps(dict(sorted(fields.items())), separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
