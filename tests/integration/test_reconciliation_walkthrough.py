"""docs/reconciliation.md's walk-through of the books: its blocks are there, with their ``# ->`` lines,
and find the sandbox in ``.sandbox/env``. test_readme.py runs them, with every block of README.md and
docs/*.md, from a second shell against ``make dev`` on a port of its own, and checks those lines."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.test_readme import _BLOCK, expectations

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reconciliation.md"
HEADING = "## Walk through the books in the sandbox"


def walk_through_blocks(text: str) -> list[str]:
    """The ``sh`` blocks from the walk-through's heading to the next heading of its level (or the end)."""
    start = text.index(HEADING)
    following = re.search(r"^## ", text[start + len(HEADING) :], re.MULTILINE)
    end = start + len(HEADING) + following.start() if following else len(text)
    return _BLOCK.findall(text[start:end])


def test_the_walk_through_has_blocks_and_expectations_and_no_fixed_port() -> None:
    blocks = walk_through_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, blocks
    assert sum(len(expectations(block)) for block in blocks) >= 20
    for block in blocks:
        assert not re.search(r"127\.0\.0\.1:\d", block), "a hard-coded port: " + block
    assert blocks[0].startswith(". .sandbox/env"), "the addresses come from what make dev writes"
