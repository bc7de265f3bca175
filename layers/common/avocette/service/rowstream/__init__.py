"""Streaming a CSV file of rows through a bounded pool of writes (:mod:`.stream`) and the report it
leaves beside the file (:mod:`.report`): what the billing import (``service.billing_import``) and the
reconciliation of Invoice Cloud's payment file (``service.reconcile``) are each an adapter of."""
