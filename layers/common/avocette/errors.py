"""Every error the service answers for, in one tree (DESIGN §3): each class carries its HTTP status,
its snake_case code and a message a payer can read, so that a new error is written here once and
every edge maps it the same way (``avocette.web`` for the portal's routes, ``avocette.http`` for the
postback) and the OpenAPI document lists it for the routes that raise it.

The tree: :class:`RequestError` (a request the contract refuses before any rule runs), :class:`DomainError`
(a request the rules refuse), :class:`StoreUnavailableError` (DynamoDB keeps failing),
:class:`InvoiceCloudError` (Invoice Cloud did not do what was asked) and :class:`ConfigurationError`
(the deployment is wrong). Messages never quote what a payer or Invoice Cloud sent.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccountNotFoundError",
    "AppError",
    "ConfigurationError",
    "DomainError",
    "EmailUnverifiedError",
    "IdempotencyKeyReusedError",
    "InvalidCursorError",
    "InvalidJsonError",
    "InvalidPostbackError",
    "InvalidStatementLinkError",
    "InvalidTokenError",
    "InvoiceCloudError",
    "InvoiceCloudNotConfiguredError",
    "InvoiceCloudRejectedError",
    "InvoiceCloudTimeoutError",
    "InvoiceCloudUnavailableError",
    "InvoiceNotFoundError",
    "InvoiceNotPayableError",
    "PayloadTooLargeError",
    "PaymentInProgressError",
    "PaymentNotFoundError",
    "RefreshAccountNotFoundError",
    "RefreshUnauthorizedError",
    "RegistrationRequiredError",
    "RequestError",
    "RequestInProgressError",
    "RequestValidationFailedError",
    "RouteNotFoundError",
    "StatementLinkExpiredError",
    "StatementNotFoundError",
    "StoreUnavailableError",
    "TooManyAttemptsError",
    "UnauthorizedError",
    "UnexpectedPaymentUrlError",
    "UnsupportedMediaTypeError",
]


class AppError(Exception):
    """An error with its answer: ``status`` and ``code`` by class, ``message`` for the payer (the
    class's unless given), ``details`` when the contract adds some (validation, ``retryAt``)."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Something went wrong on our side. Please try again later."
    # How the edge logs it: refusals are information, failures of our dependencies warnings.
    log_level: ClassVar[str] = "error"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or type(self).default_message
        self.details = details
        super().__init__(self.message)

    def log_extra(self) -> dict[str, Any]:
        """What the edge logs beside the code and status: identifiers and kinds only."""
        return {}


# ---- requests the contract refuses before any rule runs ----------------------------------------------


class RequestError(AppError):
    status = 400
    code = "invalid_request"
    default_message = "The request is not valid."
    log_level = "info"


class InvalidJsonError(RequestError):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class PayloadTooLargeError(RequestError):
    status = 413
    code = "payload_too_large"
    default_message = "The request body is larger than 64 KB."


class UnsupportedMediaTypeError(RequestError):
    status = 415
    code = "unsupported_media_type"
    default_message = "Send the request body as application/json."


class RequestValidationFailedError(RequestError):
    status = 422
    code = "validation_error"
    default_message = "The request is not valid. Check the highlighted fields."


class RouteNotFoundError(RequestError):
    status = 404
    code = "not_found"
    default_message = "There is nothing at this address."


# ---- requests the rules refuse ----------------------------------------------------------------------


class DomainError(AppError):
    status = 400
    code = "error"
    default_message = "The request could not be completed."
    log_level = "info"


class UnauthorizedError(DomainError):
    status = 401
    code = "unauthorized"
    default_message = "Sign in again to continue."


class RegistrationRequiredError(DomainError):
    status = 403
    code = "registration_required"
    default_message = "Link at least one utility account to your profile before paying."


class EmailUnverifiedError(DomainError):
    status = 403
    code = "email_unverified"
    default_message = "Verify your email address with the portal before linking accounts."


class InvalidTokenError(DomainError):
    status = 403
    code = "invalid_token"
    default_message = "The postback token is missing or not valid."


class AccountNotFoundError(DomainError):
    status = 404
    code = "account_not_found"
    default_message = "That account is not linked to your profile."


class InvoiceNotFoundError(DomainError):
    status = 404
    code = "invoice_not_found"
    default_message = "One of the selected invoices was not found on your linked accounts."


class PaymentNotFoundError(DomainError):
    status = 404
    code = "payment_not_found"
    default_message = "That payment was not found."


class StatementNotFoundError(DomainError):
    status = 404
    code = "statement_not_found"
    default_message = "There is no bill to show for that invoice."


class InvalidStatementLinkError(DomainError):
    status = 403
    code = "invalid_link"
    default_message = "This link to a bill is not valid. Open the bill from your account on the portal instead."


class StatementLinkExpiredError(DomainError):
    status = 410
    code = "link_expired"
    default_message = "This link to your bill has expired. Open the bill from your account on the portal instead."


class InvoiceNotPayableError(DomainError):
    status = 409
    code = "invoice_not_payable"
    default_message = "One of the selected invoices has nothing left to pay."


class PaymentInProgressError(DomainError):
    status = 409
    code = "payment_in_progress"
    default_message = "A payment for one of these invoices is already in progress. Finish it or wait for it to expire."


class RequestInProgressError(DomainError):
    status = 409
    code = "request_in_progress"
    default_message = "This payment request is still being processed. Please wait a moment and try again."


class IdempotencyKeyReusedError(DomainError):
    status = 422
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used for a different request."


class InvalidCursorError(DomainError):
    status = 422
    code = "invalid_cursor"
    default_message = "The page cursor is not valid. Start again from the first page."


class RefreshUnauthorizedError(DomainError):
    """Invoice Cloud's balance refresh without its credential (DESIGN §3): one answer for every refusal
    (no credential, a wrong or replayed one, a source outside ``IC_REFRESH_SOURCE_CIDRS``), given before
    anything is read, so that it tells a prober nothing."""

    status = 401
    code = "unauthorized"
    default_message = "The credential is missing or not valid."

    def __init__(self, *, challenge: str) -> None:
        super().__init__()
        self.challenge = challenge  # the answer's WWW-Authenticate: how to authenticate, nothing more


class RefreshAccountNotFoundError(DomainError):
    """Invoice Cloud asked for an account the billing data does not have (or a number that cannot be one)."""

    status = 404
    code = "account_not_found"
    default_message = "There is no account with that number."


class TooManyAttemptsError(DomainError):
    status = 429
    code = "too_many_attempts"
    default_message = "Too many unsuccessful attempts. Please try again later."


class InvalidPostbackError(DomainError):
    code = "invalid_postback"
    default_message = (
        "The postback lacks PaymentGUID or Approved, or its amount cannot be read. It was recorded for review."
    )


# ---- our dependencies failing ---------------------------------------------------------------------------


class StoreUnavailableError(AppError):
    """DynamoDB kept failing (throttling, internal errors, network): answer 503, write nothing."""

    status = 503
    code = "service_unavailable"
    default_message = "The service is busy. Please try again in a moment."
    log_level = "warning"

    def __init__(self, reason: str = "DynamoDB is unavailable") -> None:
        super().__init__()
        self.reason = reason

    def log_extra(self) -> dict[str, Any]:
        return {"error_type": type(self.__cause__).__name__}


class InvoiceCloudError(AppError):
    """Invoice Cloud did not do what was asked. ``reason`` says what, for the log (never a credential
    or payer data); ``ic_status`` is Invoice Cloud's HTTP status when it answered."""

    status = 502
    code = "invoice_cloud_unavailable"
    default_message = (
        "Invoice Cloud could not start the payment right now. No money was taken; please try again in a few minutes."
    )
    log_level = "warning"

    def __init__(self, reason: str, *, ic_status: int | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.ic_status = ic_status

    def __str__(self) -> str:
        return self.reason

    def log_extra(self) -> dict[str, Any]:
        # Not Invoice Cloud's text: its validation messages may quote what we sent (names, addresses).
        return {"error_type": type(self).__name__, "ic_status": self.ic_status}


class InvoiceCloudUnavailableError(InvoiceCloudError):
    """IC could not be reached, or answered with a server error or something unreadable."""


class InvoiceCloudTimeoutError(InvoiceCloudError):
    """IC did not answer within the read timeout or the overall deadline."""

    status = 504


class InvoiceCloudRejectedError(InvoiceCloudError):
    """IC answered, and said no (4xx, or a ``Message`` other than SUCCESS); the text is IC's."""


class UnexpectedPaymentUrlError(InvoiceCloudError):
    """IC's payment URL does not start with an allowed prefix: it never reaches a browser."""


class ConfigurationError(AppError):
    """The deployment is misconfigured (a setting or secret is missing or malformed): a 500 for the
    caller, the names of the settings (never their values) for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def __str__(self) -> str:
        return self.reason

    def log_extra(self) -> dict[str, Any]:
        return {"reason": self.reason}


class InvoiceCloudNotConfiguredError(ConfigurationError):
    """The stack has no Invoice Cloud credentials yet: the secret's ``apiKey`` is empty, as the stack
    creates it, until ops set the biller's (a trial, before Invoice Cloud sent a test biller's). Nothing
    can be sent to Invoice Cloud; the payer reads so, and that no money was taken."""

    status = 503
    code = "invoice_cloud_not_configured"
    default_message = (
        "Online payment is not available yet: Invoice Cloud, our payment provider, is not connected. "
        "No money was taken."
    )
    log_level = "warning"
