"""Billing data: accounts and invoices as the biller's files describe them, and what is payable.

Billed values come only from billing files (``billedCents`` as of ``billedAsOf``); credits come only
from approved postbacks (and review decisions). What a payer may still pay is the billed amount less
the credits the biller's file does not reflect yet (DESIGN §5). Which credits a file reflects is
decided once, when the file is imported (:meth:`Invoice.credits_reflected_by`), and kept on the
credit, so that reading and the storage's own condition (``unpaidCents``) always agree.

An invoice billed below zero is a credit invoice: the biller owes the account. Its balance lowers what
the account's other invoices ask of the payer, oldest first (:func:`account_payable`), in GET /accounts
and in the amounts a payment asks Invoice Cloud to charge alike (DESIGN §5, "the account's credit").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

__all__ = [
    "Account",
    "AccountPayable",
    "Credit",
    "CreditKind",
    "Invoice",
    "InvoiceRef",
    "PostedThrough",
    "account_payable",
    "billing_order",
    "credit_id",
    "reflects",
]


def _encode_part(part: str) -> str:
    return part.replace("%", "%25").replace("/", "%2F")


def decode_key_part(part: str) -> str:
    """One part of an invoice key (an account or invoice number) as it is: ``%2F`` is ``/``, ``%25`` is ``%``."""
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
        return cls(account_number=decode_key_part(account), invoice_number=decode_key_part(invoice))

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


CreditKind = Literal["PAYMENT", "VOID", "REFUND", "ACH_RETURN", "CHARGEBACK", "CHARGEBACK_REVERSAL", "CORRECTION"]


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
    # When the biller's export carried it, and the day (biller's zone) of that export: a billing file
    # made after that (and the settlement lag), or saying it posted that export, accounts for it.
    exported_at: datetime | None = None
    exported_day: date | None = None
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


@dataclass(frozen=True)
class PostedThrough:
    """A billing file's "payments posted through" mark (DESIGN §6e): the billing system posted every
    export written up to ``at``, or the exports of every day up to and including ``day``."""

    at: datetime | None = None
    day: date | None = None

    def covers(self, credit: Credit) -> bool:
        """Whether the export that carried ``credit`` is among those posted."""
        if credit.exported_at is None:
            return False
        if self.at is not None:
            return credit.exported_at <= self.at
        if self.day is None:
            return False
        # An export carries a day's money after the day ended: without its day, its moment's UTC date
        # is a day after it at least, never earlier (the credit counts a little longer, not less).
        exported_day = credit.exported_day or credit.exported_at.date()
        return exported_day <= self.day


def reflects(
    credit: Credit, billed_as_of: datetime, settlement_lag_hours: int, posted_through: PostedThrough | None = None
) -> bool:
    """Whether a billing file as of ``billed_as_of`` accounts for ``credit`` (DESIGN §5): the export
    handed it to the biller, and the file says its system posted that export (``posted_through``)
    or, saying nothing, was made at least the settlement lag after it. A credit never exported always
    counts, so that a payment is never forgotten because a billing file came late or early."""
    if credit.exported_at is None:
        return False
    if posted_through is not None:
        return posted_through.covers(credit)
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
    # The bill's PDF: its name under statements/ in the inbound bucket, from the billing file (§6g).
    statement_file: str | None = None

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

    @property
    def is_credit(self) -> bool:
        """A credit invoice: billed below zero, the biller owes the account (DESIGN §5)."""
        return self.billed_cents < 0

    def payable_cents(self) -> int:
        """max(0, unpaid); a closed invoice or a credit balance is 0. This is the invoice alone: what
        a payer is asked for also nets the account's credit balance (:func:`account_payable`)."""
        if self.closed_at is not None:
            return 0
        return max(0, self.unpaid_cents)

    def credits_reflected_by(
        self, billed_as_of: datetime, settlement_lag_hours: int, posted_through: PostedThrough | None = None
    ) -> dict[str, Credit]:
        """The credits a billing file as of ``billed_as_of`` reflects that no earlier file did."""
        return {
            key: credit
            for key, credit in self.credits.items()
            if not credit.reflected and reflects(credit, billed_as_of, settlement_lag_hours, posted_through)
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


def billing_order(invoice: Invoice) -> tuple[date, str]:
    """The order of an account's invoices, oldest first: soonest due (an invoice without a due date
    last), then by number. The portal lists them so, and the account's credit is applied so."""
    return (invoice.due_date or date.max, invoice.invoice_number)


@dataclass(frozen=True)
class AccountPayable:
    """What a payer may pay on each open invoice of one account once its credit balance is applied
    (DESIGN §5, "the account's credit").

    ``credit_cents`` is the balance of the account's open credit invoices (as a positive number);
    ``applied`` how much of it lowers each invoice (only those it lowers); ``payable`` what is left to
    pay on each open invoice (0 on credit invoices). An invoice's payable is its own
    (:meth:`Invoice.payable_cents`) less what is applied to it, never below 0; the credit goes to the
    oldest invoices first (:func:`billing_order`), and what no invoice can take is ``unused_cents``."""

    credit_cents: int
    applied: Mapping[InvoiceRef, int]
    payable: Mapping[InvoiceRef, int]

    @property
    def applied_cents(self) -> int:
        return sum(self.applied.values())

    @property
    def unused_cents(self) -> int:
        """Credit left once every invoice's payable amount is 0: the biller's to carry to the next bill."""
        return self.credit_cents - self.applied_cents

    @property
    def total_cents(self) -> int:
        """What the account owes: its invoices' payable amounts less its credit balance, never below 0."""
        return sum(self.payable.values())

    def payable_cents(self, ref: InvoiceRef) -> int:
        return self.payable.get(ref, 0)

    def applied_to(self, ref: InvoiceRef) -> int:
        return self.applied.get(ref, 0)


def account_payable(invoices: Iterable[Invoice]) -> AccountPayable:
    """Apply an account's credit balance to its open invoices, oldest first (DESIGN §5).

    ``invoices`` are all the invoices of one account (closed ones are left out here). The credit is
    the sum of the open credit invoices' balances; each other open invoice, in :func:`billing_order`,
    takes as much of what is left as its own payable amount, and its payable is lowered by that.

    The result is a function of what is stored, never of what a payment reserved: a payment that
    expires or is declined leaves nothing behind, so the credit is simply offered again. A payment
    of at most an invoice's payable amount moves no credit to another invoice (the oldest invoices
    keep it while they can take it); the store holds every payment to that (a credit must fit in
    ``unpaidCents`` beside the account credit its line was lowered by), so that the credit is never
    netted twice."""
    open_invoices = sorted((invoice for invoice in invoices if invoice.closed_at is None), key=billing_order)
    if len({invoice.account_number for invoice in open_invoices}) > 1:
        raise ValueError("account_payable takes the invoices of one account")
    credit = sum(-invoice.billed_cents for invoice in open_invoices if invoice.is_credit)
    left = credit
    applied: dict[InvoiceRef, int] = {}
    payable: dict[InvoiceRef, int] = {}
    for invoice in open_invoices:
        own = 0 if invoice.is_credit else invoice.payable_cents()
        take = min(left, own)
        if take:
            applied[invoice.ref] = take
            left -= take
        payable[invoice.ref] = own - take
    return AccountPayable(credit_cents=credit, applied=applied, payable=payable)
