"""``python -m tools tieout DATE``: a day's tie-out (DESIGN §6f) as a table.

It prints ``tieout/<DATE>.json`` from the exports bucket, as ``export_payments`` last wrote it; with
``--recompute``, the tie-out as things stand now, by the function's own code (written nowhere: invoke
the function with ``{"day": DATE}`` to rewrite the file). Where: ``--sandbox`` (``make dev``, on
``SANDBOX_BASE_PORT``), or the functions' variables (``EXPORTS_BUCKET_NAME``, and for
``--recompute`` ``APP_TABLE_NAME``, ``INBOUND_BUCKET_NAME``, ``BILLER_TIME_ZONE``,
``IC_PAYMENT_TYPE_IDS``) or the options that stand for them. The exit status is 0 when the day ties
out, 1 when it does not, 2 when it cannot be shown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from datetime import date
from typing import Any, TextIO

from avocette.biller.export_file import ExportFormatError
from avocette.errors import ConfigurationError
from avocette.invoicecloud.payment_file import FormatError
from avocette.settings import ledger, portal, postbacks, resources
from avocette.store import files, table

__all__ = ["add_arguments", "format_table", "run"]

_KINDS = ("VOID", "REFUND", "ACH_RETURN", "CHARGEBACK", "CHARGEBACK_REVERSAL")
_SHOWN = 25


class TieOutError(Exception):
    """Why a tie-out cannot be shown, in one line."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("date", help="the day, in the biller's zone (YYYY-MM-DD)")
    parser.add_argument("--recompute", action="store_true", help="compute it now instead of reading the file")
    parser.add_argument("--json", action="store_true", help="print the tie-out's JSON instead of the table")
    parser.add_argument(
        "--sandbox", action="store_true", help="the sandbox of `make dev` (SANDBOX_BASE_PORT, default 3000)"
    )
    parser.add_argument("--exports-bucket", help="the exports bucket (default: $EXPORTS_BUCKET_NAME)")
    parser.add_argument("--inbound-bucket", help="the bucket of Invoice Cloud's files (default: $INBOUND_BUCKET_NAME)")
    parser.add_argument("--table", help="the app table's name (default: $APP_TABLE_NAME)")
    parser.add_argument("--time-zone", help="the biller's zone (default: $BILLER_TIME_ZONE)")


def _settings(arguments: argparse.Namespace) -> None:
    """Point the layer's settings at what the options and ``--sandbox`` say, over the environment."""
    if arguments.sandbox:
        from stackdef.names import StackNames  # noqa: PLC0415 - only when asked for

        names = StackNames()
        defaults = {
            "EXPORTS_BUCKET_NAME": names.exports_bucket,
            "INBOUND_BUCKET_NAME": names.inbound_bucket,
            "APP_TABLE_NAME": names.app_table,
            # What the simulator sends as PaymentTypeID, as the sandbox maps it.
            "IC_PAYMENT_TYPE_IDS": json.dumps({"1": "CARD", "2": "ACH"}),
        }
        for name, value in defaults.items():
            os.environ.setdefault(name, value)
    for option, name in (
        ("exports_bucket", "EXPORTS_BUCKET_NAME"),
        ("inbound_bucket", "INBOUND_BUCKET_NAME"),
        ("table", "APP_TABLE_NAME"),
        ("time_zone", "BILLER_TIME_ZONE"),
    ):
        if getattr(arguments, option, None):
            os.environ[name] = getattr(arguments, option)
    for cached in (
        resources.get_table_name,
        ledger.get_ledger_settings,
        portal.get_biller_time_zone,
        postbacks.get_postback_settings,
        table.dynamodb,
        files.s3,
    ):
        cached.cache_clear()


def load(day: date, *, recompute: bool) -> dict[str, Any]:
    """The tie-out of ``day``: the stored file, or computed now. :class:`TieOutError` says why not."""
    from avocette.service import tieout  # noqa: PLC0415 - the settings are in place by now

    if recompute:
        return tieout.tie_out_day(day, tieout.TieOutRules.from_environment()).as_dict()
    bucket = resources.get_exports_bucket()
    key = tieout.tieout_key(day)
    try:
        return dict(json.loads(files.get_bytes(bucket, key)))
    except files.ObjectNotFoundError:
        raise TieOutError(
            f"no tie-out of {day} in s3://{bucket}/{key}: the export of that day has not run (or use --recompute)"
        ) from None


def _line(label: str, *cells: str) -> str:
    return f"  {label:<22}" + "".join(f"{cell:>18}" for cell in cells)


def _record_rows(record: Mapping[str, Any]) -> dict[str, str]:
    payments = record["payments"]
    return {
        "payments": payments["amount"],
        "corrections": record["corrections"],
        **{kind: record["reversals"][kind] for kind in _KINDS},
        "fees": record["fees"],
        "net": record["net"],
    }


def format_table(tie: Mapping[str, Any]) -> list[str]:
    """The tie-out as lines of text: each record's totals side by side, then every difference."""
    verdict = "TIES OUT" if tie["tiesOut"] else "DOES NOT TIE OUT"
    grace = "final" if tie["final"] else f"within its {tie['graceDays']} grace days"
    lines = [f"Tie-out of {tie['day']} ({tie['timeZone']}): {verdict} ({grace}; computed {tie['computedAt']})"]
    export = tie["export"]
    records = {
        "Invoice Cloud": _record_rows(tie["invoiceCloud"]),
        "ledger, IC's day": _record_rows(tie["ledger"]),
        "ledger, our day": _record_rows(export["ledgerRecordedOnTheDay"]),
        "export": _record_rows(export) if export["found"] else {},
    }
    lines.append(_line("", *records))
    for label in ("payments", "corrections", *_KINDS, "fees", "net"):
        lines.append(_line(label, *(values.get(label, "-") for values in records.values())))
    ledger_record = tie["ledger"]
    lines.append(_line("under review", "", ledger_record["underReview"]))
    lines.append(_line("closed", "", ledger_record["closed"]))
    lines.append(_line("recorded another day", "", ledger_record["recordedOnOtherDays"]))
    methods = sorted(set(tie["invoiceCloud"]["byMethod"]) | set(ledger_record["byMethod"]))
    for method in methods:
        by_record = [record.get(method, {}) for record in (tie["invoiceCloud"]["byMethod"], ledger_record["byMethod"])]
        for part in ("payments", "reversals", "fees"):
            lines.append(_line(f"{method} {part}", *(values.get(part, "-") for values in by_record)))
    files_read = ", ".join(tie["invoiceCloud"]["files"]) or "none reconciled yet"
    lines.append(f"Invoice Cloud files: {files_read}")
    rows = export["rows"]
    found = f"{rows} row{'' if rows == 1 else 's'}" if export["found"] else "not written"
    lines.append(f"Export: {export['key']} ({found})")
    differences = tie["differences"]
    lines.append(f"Differences: {len(differences) + tie.get('differencesOmitted', 0) or 'none'}")
    for item in differences[:_SHOWN]:
        lines.append("  " + _difference(item))
    explained = tie["explained"]
    if explained:
        lines.append(f"Accounted for by a person: {len(explained) + tie.get('explainedOmitted', 0)}")
        for item in explained[:_SHOWN]:
            lines.append(
                f"  {item['reason']}: payment {item['paymentId']} (IC {item['paymentGuid']}) "
                f"{item['amount']}, fees {item['fees']}"
            )
    timing = tie["timing"]
    if timing:
        lines.append(f"Recorded on another day (in that day's export): {len(timing) + tie.get('timingOmitted', 0)}")
        for item in timing[:_SHOWN]:
            lines.append(
                f"  {item['kind']} {item['amount']} payment {item['paymentId']} (IC {item['paymentGuid']}) "
                f"recorded {item['recordedOn']}"
            )
    return lines


def _difference(item: Mapping[str, Any]) -> str:
    if item["reason"] == "unreadable_row":
        return f"invoice_cloud: a row that cannot be read: {item['where']}"
    theirs = f"export {item['exported']}" if item["check"] == "export" else f"Invoice Cloud {item['invoiceCloud']}"
    kind = f" {item['kind']}" if item.get("kind") else ""
    return (
        f"{item['check']}: {item['reason']}{kind}: payment {item.get('paymentId') or '-'} "
        f"(IC {item.get('paymentGuid') or '-'}): {theirs}, ours {item['ours']}, difference {item['difference']}"
    )


def run(arguments: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        day = date.fromisoformat(arguments.date)
    except ValueError:
        print(f"error: {arguments.date!r} is not a day as YYYY-MM-DD", file=sys.stderr)
        return 2
    _settings(arguments)
    try:
        tie = load(day, recompute=arguments.recompute)
    except (TieOutError, files.StorageUnavailableError, ConfigurationError, FormatError, ExportFormatError) as exc:
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    if arguments.json:
        out.write(json.dumps(tie, indent=2) + "\n")
    else:
        out.write("\n".join(format_table(tie)) + "\n")
    return 0 if tie["tiesOut"] else 1
