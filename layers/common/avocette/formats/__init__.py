"""File formats as data (DESIGN §6d, §6e): Invoice Cloud's payment file and the biller's export.

Nobody knows yet what Invoice Cloud's payment file or the billing system's import look like, so
their layouts are JSON files here, named by the settings ``IC_PAYMENT_FILE_FORMAT`` and
``BILLER_EXPORT_FORMAT``; switching to the real layout is a new file, not new code.
The biller's daily change log (DESIGN §6g) is one too: ``BILLER_CHANGES_FORMAT``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["FormatNotFoundError", "load_format"]


class FormatNotFoundError(LookupError):
    """No format file of that name ships in the layer."""


@lru_cache(maxsize=8)
def load_format(name: str) -> dict[str, Any]:
    """The format file ``<name>.json`` of this package, as a dict."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise FormatNotFoundError(f"not a format name: {name!r}")
    path = resources.files(__package__).joinpath(f"{name}.json")
    if not path.is_file():
        raise FormatNotFoundError(f"no format {name!r} in avocette/formats")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
