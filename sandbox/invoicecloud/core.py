"""The simulator's state and the operations more than one area of it shares.

One re-entrant lock guards all of it, because the sandbox server answers each request on its own
thread and postbacks are delivered from background threads. The areas (``api``, ``hosted``,
``control``, ``cloud_management``) are mixins over :class:`SimulatorCore`, put together in ``app``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, Final

from sandbox.invoicecloud.balances import AccountCopy, CopiedInvoice, RefreshState, RefreshTarget
from sandbox.invoicecloud.clock import PAYMENT_TIME_ZONE, as_utc, utc_now
from sandbox.invoicecloud.config import default_config, validate_config_update
from sandbox.invoicecloud.customers import CustomerEntry, CustomerRecord
from sandbox.invoicecloud.payment_file_format import PaymentFileSink, Reversal, StoredFile
from sandbox.invoicecloud.postbacks import PostbackSender, build_postbacks, plan_deliveries
from sandbox.invoicecloud.sessions import Attempt, PaymentMethod, Session

__all__ = ["DEFAULT_BASE_URL", "SimulatorCore"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "http://127.0.0.1:3001"


class SimulatorCore:
    """State: credentials, config, sessions, customer records, payment files; and what the areas share."""

    def __init__(
        self,
        *,
        api_key: str,
        biller_guid: str,
        web_service_key: str,
        biller_name: str,
        customer_records: Iterable[CustomerRecord],
        clock: Callable[[], datetime] | None,
        payment_file_sink: PaymentFileSink | None = None,
        invoice_load: Mapping[str, Sequence[CopiedInvoice]] | None = None,
        invoice_load_as_of: datetime | None = None,
        refresh_target: RefreshTarget | None = None,
    ) -> None:
        self.base_url = DEFAULT_BASE_URL
        self.biller_name = biller_name
        # The zone the payer's pages show times in: the biller's (BILLER_TIME_ZONE), Eastern by default.
        self.time_zone: tzinfo = PAYMENT_TIME_ZONE
        self._api_key = api_key
        self._biller_guid = biller_guid
        self._web_service_key = web_service_key
        self._initial_customers = tuple(dataclasses.replace(record) for record in customer_records)
        self._lock = threading.RLock()
        self._clock = clock or utc_now
        self._config: dict[str, Any] = default_config()
        self._sessions: dict[str, Session] = {}
        self._customers: dict[str, CustomerEntry] = {}
        self._payment_file_sink = payment_file_sink
        self._payment_files: dict[str, StoredFile] = {}  # by key: the last file written under it
        self._reversals: list[Reversal] = []
        # Serialises writing payment files, so that the sink can run without ``_lock`` (it may
        # trigger the backend, which may call the simulator from another thread) while two writes
        # still cannot both accept reversals that together take back more than was paid.
        self._payment_file_lock = threading.Lock()
        self._sender = PostbackSender(self._lock, self._now)
        # The biller's last invoice load (what Invoice Cloud shows until a balance refresh), and how to
        # reach the biller's balance refresh (``balances``, ``refresh``).
        self._invoice_load = {
            number: tuple(dataclasses.replace(invoice) for invoice in invoices)
            for number, invoices in (invoice_load or {}).items()
        }
        self._invoice_load_as_of = as_utc(invoice_load_as_of) if invoice_load_as_of else self._now()
        self._refresh_target = refresh_target
        self._copies: dict[str, AccountCopy] = {}
        self._refresh_states: dict[str, RefreshState] = {}
        self.reset()

    def reset(self) -> None:
        """Defaults back, sessions gone (their pending deliveries stop), customer records as constructed,
        payment files and reversals forgotten, every account's bills as the invoice load had them."""
        with self._lock:
            self._copies = {
                number: AccountCopy(
                    invoices={invoice.invoice_number: dataclasses.replace(invoice) for invoice in invoices},
                    source="load",
                    as_of=self._invoice_load_as_of,
                )
                for number, invoices in self._invoice_load.items()
            }
            self._refresh_states = {}
            for session in self._sessions.values():
                session.discarded.set()
            self._config = default_config()
            self._sessions = {}
            self._payment_files = {}
            self._reversals = []
            self._customers = {
                record.account_number: CustomerEntry(dataclasses.replace(record)) for record in self._initial_customers
            }

    def update_config(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """What ``POST /_sim/config`` does, for code running in the same process."""
        checked = validate_config_update(dict(update))
        with self._lock:
            self._config.update(checked)
            return copy.deepcopy(self._config)

    def config(self) -> dict[str, Any]:
        """What ``GET /_sim/config`` shows."""
        with self._lock:
            return copy.deepcopy(self._config)

    def _now(self) -> datetime:
        """Every "now" the simulator reads comes from here, i.e. from the injected clock."""
        return as_utc(self._clock())

    # ------------------------------------------------------------------ faults

    def _injected_fault(self, prefix: str) -> str | None:
        """Sleep the configured delay, then take one use of the configured fault, if any."""
        with self._lock:
            delay = float(self._config[f"{prefix}DelaySeconds"])
        if delay:
            time.sleep(delay)
        with self._lock:
            fault: str | None = self._config[f"{prefix}Fault"]
            count: int | None = self._config[f"{prefix}FaultCount"]
            if fault is None:
                return None
            if count is not None:
                remaining = count - 1
                self._config[f"{prefix}FaultCount"] = remaining or None
                if remaining <= 0:
                    self._config[f"{prefix}Fault"] = None
            return fault

    def _fault_timeout(self, prefix: str) -> None:
        with self._lock:
            seconds = float(self._config[f"{prefix}TimeoutSeconds"])
        time.sleep(seconds)

    # ------------------------------------------------------------------ what the payer does

    def _remove_lines(self, session: Session, keys: Sequence[str]) -> str | None:
        """Remove invoices as the payer would; answer why not, or ``None`` when done."""
        if not session.allow_remove:
            return "Removing invoices is not allowed for this payment."
        known = {line.key for line in session.lines}
        if any(key not in known for key in keys):
            return "That invoice is not part of this payment."
        remaining = [line for line in session.selected_lines() if line.key not in keys]
        if not remaining:
            return "You cannot remove the last invoice: at least one invoice must be paid."
        session.removed.extend(key for key in keys if key not in session.removed)
        return None

    def _may_pay(self, session: Session, *, ignore_expiry: bool = False) -> str | None:
        """Why the session cannot take a payment now (its state), or ``None`` when it can.

        An expired session can still be paid when configured so (Invoice Cloud's page left open in a
        browser tab past its time); an approved one never again.
        """
        state = session.state(self._now())
        if state == "EXPIRED" and (ignore_expiry or self._config["payExpiredSessions"]):
            return None
        return None if state == "OPEN" else state

    def _record_attempt(self, session: Session, method: PaymentMethod, *, approved: bool) -> Attempt:
        """Record one payment attempt and start delivering its postbacks (call with the lock held)."""
        config = copy.deepcopy(self._config)
        now = self._now()
        paid = session.paid_lines()
        guid = session.first_guid if session.first_guid and not config["guidPerAttempt"] else str(uuid.uuid4())
        session.first_guid = session.first_guid or guid
        if method.kind == "ACH":
            method = dataclasses.replace(method, card_type=config["achCardType"])
        attempt = Attempt(
            payment_guid=guid,
            approved=approved,
            method=method,
            payment_type_id=config["paymentTypeIds"][method.kind],
            paid=paid,
            fee=sum((item.line.fee_for(method.kind) for item in paid), Decimal(0)),
            at=now,
            after_expiry=now >= session.expires_at,
            authorization=f"{secrets.randbelow(1_000_000):06d}" if approved else None,
        )
        session.attempts.append(attempt)
        logger.info(
            "Session for %s: payment attempt %s",
            session.biller_reference or "-",
            "approved" if approved else "declined",
        )
        if session.postback_url:
            postbacks = build_postbacks(biller_guid=self._biller_guid, session=session, attempt=attempt, config=config)
            attempt.postbacks = plan_deliveries(postbacks, config)
            session.postbacks.extend(attempt.postbacks)
        self._sender.start(session, attempt, config)
        return attempt
