"""The biller's daily change log (DESIGN §6g): its format file. (Its days are the biller's, in
``BILLER_TIME_ZONE``: :func:`avocette.settings.portal.get_biller_time_zone`.)"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from avocette.settings.base import EnvSettings, text, variable

__all__ = ["ChangesSettings", "get_changes_settings"]


@dataclass(frozen=True)
class ChangesSettings(EnvSettings):
    """``BILLER_CHANGES_FORMAT``: the format file (``avocette/formats/<name>.json``) of the daily file."""

    biller_changes_format: str = variable("BILLER_CHANGES_FORMAT", text(min_length=1), "biller-changes-v1")


@lru_cache(maxsize=1)
def get_changes_settings() -> ChangesSettings:
    return ChangesSettings.from_environment(os.environ)
