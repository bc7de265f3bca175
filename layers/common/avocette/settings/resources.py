"""The table and the buckets the functions write, by name (each function's own variables)."""

from __future__ import annotations

from functools import lru_cache

from avocette.settings.base import required_variable

__all__ = ["get_exports_bucket", "get_inbound_bucket", "get_table_name"]


def get_exports_bucket() -> str:
    """``EXPORTS_BUCKET_NAME``: where the biller's daily export is written (export_payments only)."""
    return required_variable("EXPORTS_BUCKET_NAME")


def get_inbound_bucket() -> str:
    """``INBOUND_BUCKET_NAME``: where Invoice Cloud's payment files arrive (read by the tie-out)."""
    return required_variable("INBOUND_BUCKET_NAME")


@lru_cache(maxsize=1)
def get_table_name() -> str:
    """``APP_TABLE_NAME`` alone: the store, the importer and ops tools need no other setting."""
    return required_variable("APP_TABLE_NAME")
