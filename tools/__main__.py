"""``python -m tools <command>``: ops commands for avocette-payments.

AWS credentials and region come from the usual places (environment, profile); ``--endpoint`` points
the commands at another endpoint, such as the sandbox's moto server."""

from __future__ import annotations

import argparse
import os
import sys

from tools import openapi, postback_keys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__)
    parser.add_argument("--endpoint", help="AWS endpoint URL (e.g. the sandbox's http://127.0.0.1:3002)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("openapi", help="print the merged OpenAPI document (docs/openapi.json)")
    keys = commands.add_parser("postback-keys", help="rotate or retire keys of the postback key ring")
    keys_commands = keys.add_subparsers(dest="action", required=True)
    rotate = keys_commands.add_parser("rotate", help="add a key and make it current")
    rotate.add_argument("--secret-id", required=True, help="the PostbackKeysSecret ARN (a stack output)")
    retire = keys_commands.add_parser("retire", help="remove an old key (90 days after it stopped being current)")
    retire.add_argument("--secret-id", required=True)
    retire.add_argument("key_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.endpoint:
        os.environ["AWS_ENDPOINT_URL"] = arguments.endpoint
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
