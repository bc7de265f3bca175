"""The biller's daily change log (DESIGN §6g): its format file. (Its days are the biller's, in
``BILLER_TIME_ZONE``: :func:`avocette.settings.portal.get_biller_time_zone`.)"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field

from avocette.settings.base import EnvSettings

__all__ = ["ChangesSettings", "get_changes_settings"]


class ChangesSettings(EnvSettings):
    """``BILLER_CHANGES_FORMAT``: the format file (``avocette/formats/<name>.json``) of the daily file."""

    biller_changes_format: str = Field("biller-changes-v1", alias="BILLER_CHANGES_FORMAT", min_length=1)


@lru_cache(maxsize=1)
def get_changes_settings() -> ChangesSettings:
    return ChangesSettings.from_environment(os.environ)
