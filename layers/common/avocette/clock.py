"""Time: RFC 3339 UTC text in storage and on the wire, whole seconds, one clock for everything; and a
moment as a payer reads it, in the biller's zone.

Every function reads the time through :func:`utc_now`. The local sandbox moves it forward
(:func:`set_offset`, behind ``POST /dev/clock``) so that expiry, late approvals and daily jobs can
be seen without waiting; nothing else ever sets the offset, so in Lambda it is always zero.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

__all__ = [
    "from_ic_date",
    "local_date",
    "local_time",
    "offset",
    "parse_timestamp",
    "set_offset",
    "timestamp",
    "to_ic_date",
    "utc_now",
]


class _Offset:
    ahead = timedelta()


def utc_now() -> datetime:
    return (datetime.now(UTC) + _Offset.ahead).replace(microsecond=0)


def set_offset(delta: timedelta) -> None:
    """Run this process's clock ``delta`` ahead of the real one (the sandbox's ``POST /dev/clock``)."""
    if delta < timedelta():
        raise ValueError("the clock only moves forward")
    _Offset.ahead = delta


def offset() -> timedelta:
    return _Offset.ahead


def timestamp(moment: datetime) -> str:
    """``2026-11-25T19:11:00Z``; refuses naive datetimes, which have no place in this service."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return moment.astimezone(UTC)


def to_ic_date(day: date) -> str:
    """Invoice Cloud's dates are ``MM/DD/YYYY``."""
    return day.strftime("%m/%d/%Y")


def from_ic_date(text: str) -> date:
    return datetime.strptime(text.strip(), "%m/%d/%Y").date()


def local_time(moment: datetime, zone: tzinfo) -> str:
    """A moment as a payer reads it, in the biller's zone, with the zone: "Nov 25, 2026, 3:04 PM EST"
    (the portal and the simulator's receipt write the same)."""
    local = moment.astimezone(zone)
    hour = local.hour % 12 or 12
    return f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {local:%p} {local.tzname()}"


def local_date(moment: datetime, zone: tzinfo) -> str:
    """The day of a moment in the biller's zone: "November 25, 2026"."""
    local = moment.astimezone(zone)
    return f"{local:%B} {local.day}, {local.year}"
