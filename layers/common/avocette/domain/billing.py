"""Billing data: accounts and invoices as the biller's files describe them, and what is payable.

Billed values come only from billing files (``billedCents`` as of ``billedAsOf``); credits come only
from approved postbacks (and review decisions). What a payer may still pay is the billed amount less
the credits the biller's file does not reflect yet (DESIGN §5). Which credits a file reflects is
decided once, when the file is imported (:meth:`Invoice.credits_reflected_by`), and kept on the
credit, so that reading and the storage's own condition (``unpaidCents``) always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

__all__ = ["Account", "Credit", "CreditKind", "Invoice", "InvoiceRef", "credit_id", "reflects"]


def _encode_part(part: str) -> str:
    return part.replace("%", "%25").replace("/", "%2F")


def _decode_part(part: str) -> str:
    return part.replace("%2F", "/").replace("%2f", "/").replace("%25", "%")


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceRef:
    """An invoice named by its account and number (invoice numbers are unique only per account).

    Its text (:attr:`key`, ``ACCOUNT/INVOICE``) keys the allocations, ledger entries and reversals
    that name invoices. Identifiers may hold ``/`` (the billing file allows it), so each part is
    encoded (``%`` and ``/`` percent-escaped): ``A/B`` + ``C`` and ``A`` + ``B/C`` never share a key,
    and identifiers without either character read as before (DESIGN §5)."""

    account_number: str
    invoice_number: str

    @property
    def key(self) -> str:
        return f"{_encode_part(self.account_number)}/{_encode_part(self.invoice_number)}"

    @classmethod
    def from_key(cls, key: str) -> InvoiceRef:
        """The invoice a :attr:`key` names; ``ValueError`` when the text is not one."""
        account, slash, invoice = key.partition("/")
        if not slash or "/" in invoice:
            raise ValueError(f"not an invoice key: {key!r}")
        return cls(account_number=_decode_part(account), invoice_number=_decode_part(invoice))

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """An account's profile from the billing file. ``name`` and the address are payer PII."""

    account_number: str
    name: str = ""
    address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    email: str = ""
    registration_hash: str = field(default="", repr=False)
    billed_as_of: datetime | None = None


CreditKind = Literal["PAYMENT", "VOID", "ACH_RETURN", "CHARGEBACK", "CORRECTION"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Credit:
    """Money one approval applied to an invoice, or a reversal took back from it. Each is its own
    entry (keyed by :func:`credit_id`), so that its ``approved_at`` is set once and never moved by a
    later one, and the biller's export carries it once. A reversal (VOID, ACH_RETURN, CHARGEBACK) is
    an entry of negative cents naming the credit it ``reverses``; that credit counts it in
    ``reversed_cents``. A CORRECTION is the same for money a person found applied to the wrong
    invoice (a review decision): Invoice Cloud took nothing back, the credit was never this invoice's."""

    payment_id: str
    cents: int
    approved_at: datetime
    kind: CreditKind = "PAYMENT"
    payment_guid: str = ""  # Invoice Cloud's payment id, for the export and reversals
    reverses: str | None = None  # a reversal: the key of the credit it takes back
    reversed_cents: int = 0  # a payment credit: how much of it reversals took back (never negative)
    # When the biller's export carried it: a billing file made after that (and the settlement lag)
    # accounts for it.
    exported_at: datetime | None = None
    # As-of time of the billing file that first reflected it; None while no file does.
    reflected_as_of: datetime | None = None

    def __post_init__(self) -> None:
        if self.reversed_cents < 0:
            raise ValueError("reversed_cents is never negative")

    @property
    def reflected(self) -> bool:
        return self.reflected_as_of is not None

    @property
    def remaining_cents(self) -> int:
        """What of a payment credit no reversal has taken back."""
        return self.cents - self.reversed_cents


UNRESOLVED_WARNING = timedelta(hours=24)


def credit_id(payment_id: str, source: str) -> str:
    """The key of one credit in an invoice's ``credits``: the payment, and what applied it (a
    postback's identity, a review). Short enough for a map key, unique per approval."""
    return f"{payment_id}#{source[:24]}"


def reflects(credit: Credit, billed_as_of: datetime, settlement_lag_hours: int) -> bool:
    """Whether a billing file as of ``billed_as_of`` accounts for ``credit`` (DESIGN §5): the export
    handed it to the biller, and the file was made at least the settlement lag after that. A credit
    never exported always counts, so that a payment is never forgotten because a billing file came
    late or early."""
    if credit.exported_at is None:
        return False
    return credit.exported_at + timedelta(hours=settlement_lag_hours) < billed_as_of


@dataclass(frozen=True, slots=True, kw_only=True)
class Invoice:
    account_number: str
    invoice_number: str
    invoice_date: date | None = None
    due_date: date | None = None
    type_id: int | None = None
    cc_service_fee_cents: int | None = None
    ach_service_fee_cents: int | None = None
    minimum_amount_due_cents: int | None = None
    allow_partial_payments: bool | None = None
    billed_cents: int
    billed_as_of: datetime
    closed_at: datetime | None = None
    credits: dict[str, Credit] = field(default_factory=dict)
    open_payment_id: str | None = None
    open_until: datetime | None = None
    # When the last session holding this invoice ended (expired) without a result from Invoice Cloud:
    # the payer may have paid; before anyone pays it again, the portal asks them to check (DESIGN §6c).
    ended_without_result_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "credits", dict(self.credits))  # its own copy, as a frozen value

    @property
    def ref(self) -> InvoiceRef:
        return InvoiceRef(account_number=self.account_number, invoice_number=self.invoice_number)

    @property
    def unreflected_cents(self) -> int:
        """Credits no billing file reflects yet: they still reduce what is payable."""
        return sum(credit.cents for credit in self.credits.values() if not credit.reflected)

    @property
    def unpaid_cents(self) -> int:
        """Billed less the credits the bill does not show yet; negative when credited above the bill
        (which the storage refuses: a credit must fit in ``unpaidCents``)."""
        return self.billed_cents - self.unreflected_cents

    def payable_cents(self) -> int:
        """max(0, unpaid); a closed invoice or a credit balance is 0."""
        if self.closed_at is not None:
            return 0
        return max(0, self.unpaid_cents)

    def credits_reflected_by(self, billed_as_of: datetime, settlement_lag_hours: int) -> dict[str, Credit]:
        """The credits a billing file as of ``billed_as_of`` reflects that no earlier file did."""
        return {
            key: credit
            for key, credit in self.credits.items()
            if not credit.reflected and reflects(credit, billed_as_of, settlement_lag_hours)
        }

    def credited_cents(self, payment_id: str) -> int:
        """What one payment has credited to this invoice, over all its approvals, less reversals."""
        return sum(credit.cents for credit in self.credits.values() if credit.payment_id == payment_id)

    def unresolved_since(self, now: datetime) -> datetime | None:
        """When its last session ended without a result, if that was in the past 24 hours."""
        ended = self.ended_without_result_at
        return ended if ended is not None and now - ended < UNRESOLVED_WARNING else None

    def held_by(self, now: datetime) -> str | None:
        """The payment whose open session holds this invoice at ``now``, if any."""
        if self.open_payment_id and self.open_until and self.open_until > now:
            return self.open_payment_id
        return None
