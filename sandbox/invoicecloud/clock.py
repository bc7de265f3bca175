"""Time as the simulator reads and writes it, and a clock the sandbox and the tests can move forward.

The simulator reads "now" only through the clock it was given (``InvoiceCloudSimulator(clock=...)``),
so that session expiry, PaymentDate and every time on a page can be seen to change without waiting.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["PAYMENT_TIME_ZONE", "AdjustableClock", "as_utc", "payment_date", "receipt_time", "rfc3339", "utc_now"]


def _payment_time_zone() -> tzinfo:
    """Invoice Cloud is in Massachusetts; its postback PaymentDate is assumed to be Eastern time."""
    try:
        return ZoneInfo("America/New_York")
    except ZoneInfoNotFoundError:  # no tz database: UTC is still a valid, if different, clock
        return UTC


PAYMENT_TIME_ZONE: Final = _payment_time_zone()


def utc_now() -> datetime:
    """The default clock: real UTC time in whole seconds, as Invoice Cloud's texts show it."""
    return datetime.now(UTC).replace(microsecond=0)


def as_utc(moment: datetime) -> datetime:
    """An injected clock may answer a naive datetime; it is read as UTC rather than as local time."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class AdjustableClock:
    """A clock for the sandbox and the tests: real time (or a fixed ``start``) plus an offset.

    ``advance`` moves it forward, e.g. past a session's expiry; ``reset`` takes the offset away.
    Callable, so it can be passed as ``InvoiceCloudSimulator(clock=...)``; safe across threads.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = as_utc(start) if start is not None else None
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            offset = self._offset
        base = self._start if self._start is not None else utc_now()
        return base + offset

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta``; answers the new time."""
        with self._lock:
            self._offset += delta
        return self()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payment_date(moment: datetime) -> str:
    return moment.astimezone(PAYMENT_TIME_ZONE).strftime("%m/%d/%Y %I:%M:%S %p")


def receipt_time(moment: datetime, zone: tzinfo = PAYMENT_TIME_ZONE) -> str:
    """A time on a payer's page, in ``zone`` (the biller's) with its name: "Nov 25, 2026, 3:04 PM EST",
    as the portal and the emails write it."""
    local = moment.astimezone(zone)
    hour = local.hour % 12 or 12
    return f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {local:%p} {local.tzname()}"
