"""The direction of imports (DESIGN §2): the domain decides and imports neither storage nor Invoice
Cloud nor the use cases; storage and Invoice Cloud translate and never import the use cases;
functions import only the layer; the layer never imports the sandbox, the tools or the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "avocette"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        for module in imported_modules(path):
            if module.startswith(forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "domain",
            (
                "avocette.store",
                "avocette.invoicecloud",
                "avocette.service",
                "avocette.web",
                "boto3",
                "botocore",
                "requests",
            ),
        ),
        ("store", ("avocette.service", "avocette.invoicecloud", "avocette.web")),
        ("invoicecloud", ("avocette.service", "avocette.store", "avocette.web")),
        ("service", ("avocette.web",)),
    ],
)
def test_each_package_imports_only_downward(package: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(LAYER / package, forbidden) == []


def test_the_layer_never_imports_the_sandbox_the_tools_or_the_tests() -> None:
    assert offenders(LAYER, ("sandbox", "tools", "tests", "bench")) == []


def test_functions_import_only_the_layer_and_libraries() -> None:
    found = []
    for path in sorted((ROOT / "functions").glob("*/app.py")):
        for module in imported_modules(path):
            if module.startswith(("sandbox", "tools", "tests", "bench", "functions", "app")):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    assert found == []


def test_tools_and_the_sandbox_never_import_each_other_and_stackdef_neither() -> None:
    """The template and function loaders, and the sandbox's resource names, live in ``stackdef``, a
    neutral package that the sandbox, the tools, the benchmarks and the tests all use."""
    assert offenders(ROOT / "tools", ("sandbox",)) == []
    assert offenders(ROOT / "sandbox", ("tools",)) == []
    assert offenders(ROOT / "stackdef", ("sandbox", "tools", "tests", "bench")) == []
