"""Time: RFC 3339 UTC text in storage and on the wire, whole seconds, one clock to patch in tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

__all__ = ["from_ic_date", "parse_timestamp", "timestamp", "to_ic_date", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


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
