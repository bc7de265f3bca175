"""A pytest plugin for mutmut's runs only (pyproject.toml [tool.mutmut] loads it): the ``mutmut``
hypothesis profile, which reports a failing example as found instead of shrinking it. Nobody reads
a mutant's failure, and shrinking a failed sequence of the model takes longer than the mutant's
timeout, so that a mutant the model caught would count as one that hung."""

from __future__ import annotations

from hypothesis import Phase, settings

settings.register_profile("mutmut", phases=[phase for phase in Phase if phase not in (Phase.shrink, Phase.explain)])
