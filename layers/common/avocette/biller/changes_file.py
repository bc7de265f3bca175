"""The biller's daily customer change log, written by a format that is data (``BILLER_CHANGES_FORMAT``,
DESIGN §6g).

What the billing system wants to read is not known yet, so the layout lives in a format file of
``avocette/formats`` like the payment export's: the key, the CSV dialect, the columns in order (each
a header and one of our fields), the time format and zone, and the word for each event.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from avocette.biller.cells import formula_safe
from avocette.domain.changes import ChangeKind, ChangeRow
from avocette.formats import FormatNotFoundError, load_format

__all__ = ["ChangesFormat", "ChangesFormatError", "get_changes_format"]

ChangeField = Literal["at", "accountNumber", "event", "portalUser"]


class ChangesFormatError(ValueError):
    """The format file is unusable (the setting names a bad file)."""


class ChangesFormat(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    format: str
    describes: str = ""
    key_template: str = Field(alias="keyTemplate")
    encoding: str = "utf-8"
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    line_terminator: str = Field("\r\n", alias="lineTerminator")
    columns: list[tuple[str, ChangeField]] = Field(min_length=1)
    date_format: str = Field(alias="dateFormat")
    time_zone: str = Field("UTC", alias="timeZone")
    events: dict[ChangeKind, str] = Field(default_factory=dict)

    @field_validator("key_template")
    @classmethod
    def _key_has_the_day(cls, template: str) -> str:
        if "{day}" not in template:
            raise ValueError("keyTemplate must contain {day}")
        return template

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @field_validator("events")
    @classmethod
    def _every_event_has_a_word(cls, events: dict[ChangeKind, str]) -> dict[ChangeKind, str]:
        missing = [kind.value for kind in ChangeKind if not events.get(kind)]
        if missing:
            raise ValueError(f"events must give a word for {', '.join(missing)}")
        return events

    def key(self, day: date) -> str:
        return self.key_template.format(day=day.isoformat())

    def render(self, rows: Sequence[ChangeRow]) -> bytes:
        """The file's bytes: a header, then one line per row, in the rows' order; a cell that starts
        like a formula (``=``, ``+``, ``-``, ``@``, tab, CR: an account number may) gets a leading ``'``."""
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, delimiter=self.delimiter, quotechar=self.quotechar, lineterminator=self.line_terminator
        )
        writer.writerow([header for header, _ in self.columns])
        zone = ZoneInfo(self.time_zone)
        for row in rows:
            values = {
                "at": row.at.astimezone(zone).strftime(self.date_format),
                "accountNumber": row.account_number,
                "event": self.events[row.kind],
                "portalUser": row.portal_user,
            }
            writer.writerow([formula_safe(values[field]) for _, field in self.columns])
        return buffer.getvalue().encode(self.encoding)


@lru_cache(maxsize=4)
def get_changes_format(name: str) -> ChangesFormat:
    try:
        return ChangesFormat.model_validate(load_format(name))
    except FormatNotFoundError as exc:
        raise ChangesFormatError(str(exc)) from None
    except ValidationError as exc:
        raise ChangesFormatError(f"the format {name!r} is not valid: {exc.errors()[0]['msg']}") from None
