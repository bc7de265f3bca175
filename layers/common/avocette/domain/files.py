"""What goes wrong in a row of a file the service reads (the biller's billing file, Invoice Cloud's
payment file): where, and why, never the value."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RowProblem"]


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row was skipped (or, as a warning, what was ignored): line, column, reason; no value."""

    row: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, int | str]:
        return {"row": self.row, "column": self.column, "reason": self.reason}
