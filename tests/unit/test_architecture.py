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
        ("store", ("avocette.service", "avocette.invoicecloud", "avocette.web", "avocette.http")),
        ("invoicecloud", ("avocette.service", "avocette.store", "avocette.web", "avocette.http")),
        ("service", ("avocette.web", "avocette.http")),
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


def test_functions_reach_storage_and_invoice_cloud_only_through_a_use_case() -> None:
    """Handlers are thin: parse, call one use case, map its result (DESIGN §2)."""
    assert offenders(ROOT / "functions", ("avocette.store", "avocette.invoicecloud")) == []


def test_every_error_the_edges_answer_is_in_the_one_tree() -> None:
    """No module but ``avocette.errors`` defines an error with an HTTP status, and no edge keeps a
    table of statuses of its own (a new error is written once, DESIGN §3)."""
    found = []
    for path in sorted([*LAYER.rglob("*.py"), *(ROOT / "functions").glob("*/app.py")]):
        if path.name == "errors.py" and path.parent == LAYER:
            continue
        text = path.read_text(encoding="utf-8")
        if "status: ClassVar" in text or "status = 4" in text or "status = 5" in text or "_STATUS" in text:
            found.append(str(path.relative_to(ROOT)))
    assert found == []


def test_tools_and_the_sandbox_never_import_each_other_and_stackdef_neither() -> None:
    """The template and function loaders, and the sandbox's resource names, live in ``stackdef``, a
    neutral package that the sandbox, the tools, the benchmarks and the tests all use."""
    assert offenders(ROOT / "tools", ("sandbox",)) == []
    assert offenders(ROOT / "sandbox", ("tools",)) == []
    assert offenders(ROOT / "stackdef", ("sandbox", "tools", "tests", "bench")) == []


def item_key_uses(source: str, name: str) -> list[str]:
    """Where ``source`` names an item's key attributes or imports the store's key builders."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"):
            found.append(f"{name}:{node.lineno} names {node.value}")
        elif isinstance(node, ast.ImportFrom) and node.module == "avocette.store":
            found.extend(f"{name}:{node.lineno} imports keys" for alias in node.names if alias.name == "keys")
        elif isinstance(node, ast.ImportFrom) and node.module == "avocette.store.keys":
            found.append(f"{name}:{node.lineno} imports avocette.store.keys")
    return found


def test_use_cases_never_read_the_stores_items() -> None:
    """The store maps items to domain and store objects; a use case never names an item's keys
    (``"PK"``, ``"SK"``) nor builds them (``avocette.store.keys``)."""
    found = []
    for path in sorted((LAYER / "service").rglob("*.py")):
        found.extend(item_key_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))))
    assert found == []


def test_reading_items_in_a_use_case_is_found() -> None:
    source = 'from avocette.store import keys\nrows = [i for i in items if i["SK"] == keys.PROFILE]\n'
    assert item_key_uses(source, "s.py") == ["s.py:1 imports keys", "s.py:2 names SK"]
