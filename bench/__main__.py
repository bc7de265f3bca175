"""``python -m bench``: run every benchmark and print a short report."""

from __future__ import annotations

import os
import sys

# Before the layer is imported: its metrics and loggers read these when made.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Avocette")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from bench import billing_import, postbacks


def main() -> int:
    print(postbacks.run(), flush=True)
    print(billing_import.run(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
