"""``python -m tools <command>``: ops commands for avocette-payments.

AWS credentials and region come from the usual places (environment, profile); ``--endpoint`` points
the commands at another endpoint; ``--sandbox`` at the running sandbox (``make dev``: its moto server
and the functions' settings, from the ``.sandbox/`` it writes in the repository's root).

What stops a command before it starts (nothing answering at the endpoint, no sandbox running, a setting
missing, AWS unreachable) is one line on stderr saying what to set, and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from avocette.errors import AppError, ConfigurationError, StoreUnavailableError
from botocore.exceptions import BotoCoreError, ClientError

from stackdef import local
from tools import billing, health, openapi, portal, postback_keys, reconcile, review, tieout


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__)
    parser.add_argument("--endpoint", help="AWS endpoint URL (e.g. the sandbox's http://127.0.0.1:3002)")
    parser.add_argument(
        "--sandbox",
        dest="use_sandbox",
        action="store_true",
        help="the running sandbox (make dev): its AWS and the functions' settings, from .sandbox/ here",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("openapi", help="print the merged OpenAPI document (docs/openapi.json)")
    keys = commands.add_parser("postback-keys", help="rotate or retire keys of the postback key ring")
    keys_commands = keys.add_subparsers(dest="action", required=True)
    rotate = keys_commands.add_parser("rotate", help="add a key and make it current")
    rotate.add_argument("--secret-id", required=True, help="the PostbackKeysSecret ARN (a stack output)")
    retire = keys_commands.add_parser("retire", help="remove an old key (90 days after it stopped being current)")
    retire.add_argument("--secret-id", required=True)
    retire.add_argument("key_id")
    billing_command = commands.add_parser("billing", help="billing files")
    billing_commands = billing_command.add_subparsers(dest="action", required=True)
    load = billing_commands.add_parser(
        "import", help="import a local billing file named <YYYYMMDDTHHMMSSZ>[-full].csv (as billing/<name>)"
    )
    load.add_argument("file", type=Path)
    load.add_argument("--table", help="the app table's name (default: $APP_TABLE_NAME)")
    load.add_argument(
        "--hash-key-secret", help="the RegistrationHashKeySecret ARN (default: $REGISTRATION_HASH_KEY_ARN)"
    )
    reconciling = commands.add_parser(
        "reconcile", help="reconcile a local Invoice Cloud payment file named <YYYY-MM-DD>.csv (as invoicecloud/<name>)"
    )
    reconciling.add_argument("file", type=Path)
    reconciling.add_argument("--table", help="the app table's name (default: $APP_TABLE_NAME)")
    review_command = commands.add_parser("review", help="payments flagged for review: list, show, apply, dismiss")
    review_command.add_argument("--table", help="the app table's name (default: $APP_TABLE_NAME)")
    review_commands = review_command.add_subparsers(dest="action", required=True)
    listing = review_commands.add_parser("list", help="payments waiting for a person, oldest first")
    listing.add_argument("--reason", help="only those flagged for this reason, e.g. duplicate_payment")
    show = review_commands.add_parser("show", help="a payment, its postbacks, decisions and candidate allocations")
    show.add_argument("payment_id")
    apply = review_commands.add_parser(
        "apply", help="credit invoices (or take back what the payment credited) and approve (audited)"
    )
    apply.add_argument("payment_id")
    apply.add_argument(
        "--allocation",
        action="append",
        metavar="INVOICE=AMOUNT",
        help="an invoice (or ACCOUNT/INVOICE) and the amount to credit it, negative to take back what the payment "
        "credited there; repeat for each invoice; none confirms the payment as it stands",
    )
    apply.add_argument(
        "--payment-guid",
        help="the Invoice Cloud payment id this settles (default: the only one the payment has heard of)",
    )
    dismiss = review_commands.add_parser(
        "dismiss", help="close without money, e.g. refunded at Invoice Cloud (audited)"
    )
    dismiss.add_argument("payment_id")
    for decision in (apply, dismiss):
        decision.add_argument("--note", required=True, help="why: kept in the audit trail")
        decision.add_argument("--by", help="who decides (default: the AWS caller identity)")
    tieing = commands.add_parser(
        "tieout", help="a day's tie-out of Invoice Cloud's files, our ledger and the export, as a table"
    )
    tieout.add_arguments(tieing)
    checking = commands.add_parser(
        "health", help="is the stack ready: secrets, Invoice Cloud, tables, buckets, jobs (one line each)"
    )
    health.add_arguments(checking)
    publishing = commands.add_parser(
        "portal", help="publish the demo portal to a trial stack (CreateDemoUserPool=true): files, config, CloudFront"
    )
    which = publishing.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help="the samconfig.toml environment whose stack to publish to, e.g. dev")
    which.add_argument("--stack", help="the stack's name")
    publishing.add_argument("--region", help="the stack's region (default: samconfig.toml's, or the environment's)")
    return parser


def _import_billing(arguments: argparse.Namespace) -> int:
    path: Path = arguments.file
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    report = billing.import_file(path, table_name=arguments.table, hash_key_secret=arguments.hash_key_secret)
    return billing.print_report(report, path)


def _use_endpoint(endpoint: str) -> None:
    """Point boto3 at another endpoint; a local one (the sandbox's moto) needs a region and accepts any
    credentials, so those get defaults when the environment has none."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105 - not a secret


class _Stop(Exception):
    """What stops a command before it starts, in one line."""


def _where(arguments: argparse.Namespace) -> None:
    """Point the layer at the AWS the options name: ``--sandbox`` (its endpoint and the functions'
    variables), or ``--endpoint``; either must answer at once."""
    if arguments.use_sandbox:
        if arguments.endpoint:
            raise _Stop("give --sandbox or --endpoint, not both")
        try:
            found = local.read()
        except local.SandboxNotFoundError as exc:
            raise _Stop(str(exc)) from None
        os.environ.update(found.environment)
        _use_endpoint(found.aws)
    elif arguments.command in ("health", "tieout") and arguments.sandbox:
        try:
            endpoint = arguments.endpoint or f"http://127.0.0.1:{health.sandbox_base_port() + 2}"  # its moto
        except health.SandboxPortError as exc:
            raise _Stop(str(exc)) from None
        problem = health.sandbox_unreachable(endpoint, given=bool(arguments.endpoint))
        if problem:
            raise _Stop(problem)
        _use_endpoint(endpoint)
    elif arguments.endpoint:
        if not local.answers(arguments.endpoint):
            raise _Stop(
                f"nothing answers at --endpoint {arguments.endpoint}: for the sandbox, use --sandbox instead "
                "(it finds the port `make dev` chose), or the AWS address `make dev` printed"
            )
        _use_endpoint(arguments.endpoint)


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        _where(arguments)
        return _run(arguments)
    except _Stop as exc:
        print(f"error: {exc}", file=sys.stderr)
    except ConfigurationError as exc:
        print(
            f"error: {exc.reason}: set it as the function's environment sets it (a deployed stack's: "
            "aws lambda get-function-configuration), or use --sandbox against `make dev`",
            file=sys.stderr,
        )
    except StoreUnavailableError as exc:
        print(
            f"error: {exc.reason} at {os.environ.get('AWS_ENDPOINT_URL') or 'AWS'}: check the endpoint and credentials",
            file=sys.stderr,
        )
    except AppError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
    except (BotoCoreError, ClientError) as exc:
        said = " ".join(str(exc).split())  # one line, whatever the endpoint answered (an HTML page...)
        given = os.environ.get("AWS_ENDPOINT_URL")
        where = f" (is {given} AWS, e.g. the sandbox's moto?)" if given else ""
        print(f"error: AWS refused or could not be reached{where}: {said[:240]}", file=sys.stderr)
    return 2


def _run(arguments: argparse.Namespace) -> int:
    if arguments.command == "openapi":
        sys.stdout.write(openapi.openapi_text())
    elif arguments.command == "postback-keys" and arguments.action == "rotate":
        key_id = postback_keys.rotate(arguments.secret_id)
        print(f"key {key_id} is now current")
    elif arguments.command == "postback-keys" and arguments.action == "retire":
        try:
            postback_keys.retire(arguments.secret_id, arguments.key_id)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"key {arguments.key_id} retired")
    elif arguments.command == "billing" and arguments.action == "import":
        return _import_billing(arguments)
    elif arguments.command == "reconcile":
        if not arguments.file.is_file():
            print(f"error: no such file: {arguments.file}", file=sys.stderr)
            return 2
        report = reconcile.reconcile_path(arguments.file, table_name=arguments.table)
        return reconcile.print_report(report, arguments.file)
    elif arguments.command == "health":
        return health.run(arguments)
    elif arguments.command == "tieout":
        return tieout.run(arguments)
    elif arguments.command == "portal":
        return portal.run(env=arguments.env, stack=arguments.stack, region=arguments.region)
    elif arguments.command == "review":
        review.use_table(arguments.table)
        return review.run(
            arguments.action,
            payment_id=getattr(arguments, "payment_id", None),
            reason=getattr(arguments, "reason", None),
            allocation=getattr(arguments, "allocation", None) or [],
            note=getattr(arguments, "note", ""),
            by=getattr(arguments, "by", None),
            payment_guid=getattr(arguments, "payment_guid", None),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
