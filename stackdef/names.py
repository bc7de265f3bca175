"""The names the local sandbox gives the template's tables, buckets and secrets: the sandbox creates
them, and ``python -m tools health --sandbox`` finds them, without either importing the other."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StackNames"]


@dataclass(frozen=True)
class StackNames:
    app_table: str = "avocette-app"
    idempotency_table: str = "avocette-idempotency"
    billing_bucket: str = "avocette-billing"
    inbound_bucket: str = "avocette-inbound"
    exports_bucket: str = "avocette-exports"
    ic_secret_name: str = "avocette/invoice-cloud"
    postback_keys_secret_name: str = "avocette/postback-keys"
    registration_hash_secret_name: str = "avocette/registration-hash-key"
    refresh_secret_name: str = "avocette/invoice-cloud-refresh"
    statement_link_keys_secret_name: str = "avocette/statement-link-keys"

    def buckets(self) -> dict[str, str]:
        """The template's buckets by logical id."""
        return {
            "BillingBucket": self.billing_bucket,
            "InboundBucket": self.inbound_bucket,
            "ExportsBucket": self.exports_bucket,
        }
