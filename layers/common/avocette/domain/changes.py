"""The customer change log (DESIGN §6g): what the biller learns each day of its accounts' links to
portal users and of their records at Invoice Cloud, by account number and event, never a payer's
details.

An event belongs to the biller's day (``BILLER_TIME_ZONE``) of the moment it was recorded, and is
stored under that day, in the same transaction as the change it tells of: the daily file of a day
is that day's events, read from one partition once the day is over, so a re-run writes the same
bytes and every event is in exactly one day's file.

What Invoice Cloud does is not ours to write in a transaction, so its events follow what we know
of the account there (:class:`InvoiceCloudStatus`): a customer record we asked Invoice Cloud to
create is told once Invoice Cloud's answer, or a later look at the record, shows it exists; a
registration is told when we first see it (again after we saw it gone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum

from avocette.security import keyed_hash

__all__ = [
    "ChangeEvent",
    "ChangeKind",
    "ChangeRow",
    "InvoiceCloudChanges",
    "InvoiceCloudStatus",
    "change_day",
    "change_rows",
    "invoice_cloud_changes",
    "portal_user_ref",
]


class ChangeKind(StrEnum):
    """What happened, in the order of an account's life in the portal (the file's order within a moment)."""

    LINKED = "LINKED"  # a portal user proved the account and linked it (POST /registrations)
    IC_RECORD_CREATED = "IC_RECORD_CREATED"  # we created the account's customer record at Invoice Cloud
    IC_REGISTRATION_SEEN = "IC_REGISTRATION_SEEN"  # Invoice Cloud said the account is registered there
    UNLINKED = "UNLINKED"  # the user removed their own link (DELETE /registrations/{accountNumber})
    LINK_REMOVED_OCCUPANT_CHANGE = "LINK_REMOVED_OCCUPANT_CHANGE"  # a billing file changed the registration value

    @property
    def rank(self) -> int:
        return list(ChangeKind).index(self)


def change_day(at: datetime, zone: tzinfo) -> date:
    """The biller's day an event recorded at ``at`` belongs to: its date in the biller's zone."""
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    return at.astimezone(zone).date()


_USER_PURPOSE = "biller-portal-user"


def portal_user_ref(key: bytes, sub: str) -> str:
    """How the biller's file names a portal user: 16 hex digits of a keyed hash of the user's ``sub``
    under the registration hash key. The same user is the same reference in every file (a link and
    its unlink pair up; an account's users can be counted), but nobody without the key can tell who
    it is or find it from a ``sub``, and the file never carries a name, an email or the ``sub``."""
    return keyed_hash(key, sub, purpose=_USER_PURPOSE)[:16]


@dataclass(frozen=True)
class ChangeEvent:
    """One change, as stored under its day. ``event_id`` makes it unique within the day (two users
    may link one account in the same second); ``portal_user`` is :func:`portal_user_ref`'s reference
    for the events of a link, empty for Invoice Cloud's."""

    day: date
    at: datetime
    kind: ChangeKind
    account_number: str
    event_id: str
    portal_user: str = ""

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("naive datetime")
        if not self.event_id or not self.account_number:
            raise ValueError("an event needs its id and account number")

    @classmethod
    def recorded(
        cls, kind: ChangeKind, account_number: str, *, at: datetime, zone: tzinfo, event_id: str, portal_user: str = ""
    ) -> ChangeEvent:
        """The event of a change recorded at ``at``, under the biller's day of that moment."""
        return cls(
            day=change_day(at, zone),
            at=at,
            kind=kind,
            account_number=account_number,
            event_id=event_id,
            portal_user=portal_user,
        )


@dataclass(frozen=True, order=True)
class ChangeRow:
    """One line of the biller's file. Rows sort by time, account, event (a link before what followed
    it in the same second) and user: a day's file is the same whatever order its events are read in."""

    at: datetime
    account_number: str
    rank: int
    kind: ChangeKind
    portal_user: str


def change_rows(events: Iterable[ChangeEvent]) -> list[ChangeRow]:
    """A day's events as the file's rows, in the file's order."""
    return sorted(
        ChangeRow(
            at=event.at,
            account_number=event.account_number,
            rank=event.kind.rank,
            kind=event.kind,
            portal_user=event.portal_user,
        )
        for event in events
    )


# ---- what we know of an account at Invoice Cloud -------------------------------------------------


@dataclass(frozen=True)
class InvoiceCloudStatus:
    """What we last knew of an account at Invoice Cloud. ``create_requested_at`` is set just before
    we ask Invoice Cloud to create its customer record and cleared when the creation is logged, so a
    creation whose answer, or whose logging, was lost is still logged the next time the record is
    seen. ``registered`` is what Invoice Cloud last said (``None``: never asked, or never answered)."""

    registered: bool | None = None
    create_requested_at: datetime | None = None
    record_created_at: datetime | None = None
    registered_seen_at: datetime | None = None


@dataclass(frozen=True)
class InvoiceCloudChanges:
    """What one answer of Invoice Cloud changes: a creation to log, a registration first seen (both
    events), or a registration seen gone (remembered only, so that the next one is seen again)."""

    record_created: bool = False
    registration_seen: bool = False
    registration_gone: bool = False

    def __bool__(self) -> bool:
        return self.record_created or self.registration_seen or self.registration_gone


def invoice_cloud_changes(
    known: InvoiceCloudStatus | None, *, record_exists: bool, created_now: bool, registered: bool | None
) -> InvoiceCloudChanges:
    """Compare one answer of Invoice Cloud about an account (its record exists — ``created_now`` when
    we just created it — and whether it is registered; ``registered`` is ``None`` when it did not
    answer) with what we knew."""
    if not record_exists:
        return InvoiceCloudChanges()
    known = known or InvoiceCloudStatus()
    return InvoiceCloudChanges(
        record_created=created_now or known.create_requested_at is not None,
        registration_seen=registered is True and known.registered is not True,
        registration_gone=registered is False and known.registered is True,
    )
