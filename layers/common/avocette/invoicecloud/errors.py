"""Typed Invoice Cloud failures. Messages name what went wrong, never a credential or payer data."""

from __future__ import annotations

__all__ = [
    "InvoiceCloudError",
    "InvoiceCloudRejectedError",
    "InvoiceCloudTimeoutError",
    "InvoiceCloudUnavailableError",
    "UnexpectedPaymentUrlError",
]


class InvoiceCloudError(Exception):
    """Invoice Cloud did not do what was asked. ``status`` is IC's HTTP status when it answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InvoiceCloudUnavailableError(InvoiceCloudError):
    """IC could not be reached, or answered with a server error or something unreadable."""


class InvoiceCloudTimeoutError(InvoiceCloudError):
    """IC did not answer within the read timeout or the overall deadline."""


class InvoiceCloudRejectedError(InvoiceCloudError):
    """IC answered, and said no (4xx, or a ``Message`` other than SUCCESS); the text is IC's."""


class UnexpectedPaymentUrlError(InvoiceCloudError):
    """IC's payment URL does not start with an allowed prefix: it never reaches a browser."""
