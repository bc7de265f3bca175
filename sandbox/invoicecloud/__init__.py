"""Invoice Cloud simulator for the local sandbox and the tests (DESIGN.md §8)."""

from sandbox.invoicecloud.app import (
    DEFAULT_CONFIG,
    AdjustableClock,
    CopiedInvoice,
    CustomerRecord,
    InvoiceCloudSimulator,
    PaymentFileSink,
    RefreshTarget,
)

__all__ = [
    "DEFAULT_CONFIG",
    "AdjustableClock",
    "CopiedInvoice",
    "CustomerRecord",
    "InvoiceCloudSimulator",
    "PaymentFileSink",
    "RefreshTarget",
]
