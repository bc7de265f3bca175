"""Invoice Cloud simulator for the local sandbox and the tests (DESIGN.md §8)."""

from sandbox.invoicecloud.app import CustomerRecord, InvoiceCloudSimulator

__all__ = ["CustomerRecord", "InvoiceCloudSimulator"]
