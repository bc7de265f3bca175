"""Every "DESIGN §6c"-style reference in the repository names a section of docs/design.md, the design
in the project's own words: a reader who follows one finds it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
SEARCHED = ("layers", "functions", "tools", "sandbox", "tests", "bench", "stackdef", "docs")
SUFFIXES = {".py", ".js", ".html", ".md", ".json", ".yaml", ".toml"}
# "DESIGN §6c", "DESIGN.md §4a", "DESIGN 4a" (a CloudFormation description cannot hold §), "§5, §6c".
REFERENCE = re.compile(r"DESIGN(?:\.md)?,? ?(?:§ ?)?(\d+[a-z]?)((?:(?:,| and) ?§ ?\d+[a-z]?)*)")
MORE = re.compile(r"§ ?(\d+[a-z]?)")


def sections() -> set[str]:
    """The numbers of docs/design.md's headings: "## 6. Payments" -> 6, "### 6c. ..." -> 6c."""
    found = set()
    for line in DESIGN.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#{2,4} (\d+[a-z]?)(?:\.\d+)?\.? ", line)
        if match:
            found.add(match.group(1))
    return found


def references() -> dict[str, set[str]]:
    """Each file's section references (``DESIGN §X``, and the ``§Y`` that follow it in one list)."""
    found: dict[str, set[str]] = {}
    paths = [ROOT / "template.yaml", ROOT / "README.md", ROOT / "Makefile"]
    for folder in SEARCHED:
        paths.extend(path for path in (ROOT / folder).rglob("*") if path.suffix in SUFFIXES and path.is_file())
    for path in paths:
        if any(part in {".venv", "node_modules", "__pycache__"} for part in path.parts) or path == DESIGN:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in REFERENCE.finditer(text):
            numbers = {match.group(1), *MORE.findall(match.group(2) or "")}
            found.setdefault(str(path.relative_to(ROOT)), set()).update(numbers)
    return found


def test_every_design_reference_names_a_section_of_docs_design() -> None:
    known = sections()
    dangling = {path: sorted(numbers - known) for path, numbers in references().items() if numbers - known}
    assert dangling == {}, f"docs/design.md has no sections {dangling}; it has {sorted(known)}"


def test_the_design_is_numbered_as_the_code_cites_it() -> None:
    assert {"2", "3", "4", "4a", "5", "6", "6a", "6b", "6c", "6d", "6e", "7", "8"} <= sections()
    assert sum(len(numbers) for numbers in references().values()) > 80  # the code does cite it
