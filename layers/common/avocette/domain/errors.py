"""Domain exceptions. Each carries a snake_case code and a message a payer can read; the HTTP
status for each class is decided once, in ``avocette.web``."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccountNotFoundError",
    "DomainError",
    "EmailUnverifiedError",
    "IdempotencyKeyReusedError",
    "InvalidCursorError",
    "InvalidPostbackError",
    "InvalidTokenError",
    "InvoiceNotFoundError",
    "InvoiceNotPayableError",
    "PaymentInProgressError",
    "PaymentNotFoundError",
    "RegistrationRequiredError",
    "RequestInProgressError",
    "TooManyAttemptsError",
    "UnauthorizedError",
]


class DomainError(Exception):
    code = "error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or type(self).message
        self.details = details
        super().__init__(self.message)


class UnauthorizedError(DomainError):
    code = "unauthorized"
    message = "Sign in again to continue."


class RegistrationRequiredError(DomainError):
    code = "registration_required"
    message = "Link at least one utility account to your profile before paying."


class EmailUnverifiedError(DomainError):
    code = "email_unverified"
    message = "Verify your email address with the portal before linking accounts."


class TooManyAttemptsError(DomainError):
    code = "too_many_attempts"
    message = "Too many unsuccessful attempts. Please try again later."


class AccountNotFoundError(DomainError):
    code = "account_not_found"
    message = "That account is not linked to your profile."


class InvoiceNotFoundError(DomainError):
    code = "invoice_not_found"
    message = "One of the selected invoices was not found on your linked accounts."


class InvoiceNotPayableError(DomainError):
    code = "invoice_not_payable"
    message = "One of the selected invoices has nothing left to pay."


class PaymentInProgressError(DomainError):
    code = "payment_in_progress"
    message = "A payment for one of these invoices is already in progress. Finish it or wait for it to expire."


class RequestInProgressError(DomainError):
    code = "request_in_progress"
    message = "This payment request is still being processed. Please wait a moment and try again."


class IdempotencyKeyReusedError(DomainError):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request."


class PaymentNotFoundError(DomainError):
    code = "payment_not_found"
    message = "That payment was not found."


class InvalidCursorError(DomainError):
    code = "invalid_cursor"
    message = "The page cursor is not valid. Start again from the first page."


class InvalidTokenError(DomainError):
    code = "invalid_token"
    message = "The postback token is missing or not valid."


class InvalidPostbackError(DomainError):
    code = "invalid_postback"
    message = "The postback lacks PaymentGUID or Approved, or its amount cannot be read. It was recorded for review."
