"""What `sam build` ships, run as Lambda runs it: bytecode that is used, no SDK of its own in the layer,
and each function importing only what its routes use (docs/performance.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.artifact import (
    ZIP_EPOCH,
    as_deployed,
    function_dirs,
    import_probe,
    lambda_environment,
    runtime_pins,
    runtime_sdk,
    sam_build,
)
from stackdef.template import ROOT
from tests.environment import python312, require

pytestmark = pytest.mark.infra

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil")
# What a function must not load: modules only other functions' routes use.
MUST_NOT_IMPORT: dict[str, tuple[str, ...]] = {
    "PaymentsFunction": (
        "defusedxml",
        "avocette.invoicecloud.client",
        "aws_lambda_powertools.utilities.idempotency",
        "avocette.service.starting",
    ),
    "AccountsFunction": ("defusedxml", "avocette.invoicecloud.client"),
    "PostbackFunction": (
        "pydantic",
        "aws_lambda_powertools.event_handler",
        "aws_lambda_powertools.utilities.idempotency",
        "avocette.invoicecloud.client",
    ),
    # Starting a payment never reads a customer record (its XML is read where records are asked for).
    "StartPaymentFunction": ("defusedxml", "avocette.invoicecloud.customers"),
    "ExpirePaymentsFunction": ("pydantic",),
    "StatementsFunction": (
        "requests",
        "defusedxml",
        "avocette.invoicecloud.client",
        "aws_lambda_powertools.utilities.idempotency",
    ),
    # Public like the postback: a plain handler, nothing of the web framework or Invoice Cloud.
    "StatementLinksFunction": (
        "requests",
        "aws_lambda_powertools.event_handler",
        "aws_lambda_powertools.utilities.idempotency",
        "avocette.invoicecloud.client",
    ),
}
# No function loads requests (the Invoice Cloud client is on urllib3), and Tracer patches what each
# function calls, not every library it knows.
NEVER_IMPORTED = ("requests",)
NEVER_PATCHED = ("aws_xray_sdk.ext.sqlite3", "aws_xray_sdk.ext.httplib", "aws_xray_sdk.ext.pymongo", "sqlite3")


@pytest.fixture(scope="module")
def interpreter() -> str:
    found = python312()
    require(found is not None, "python3.12 (for sam build)", "install Python 3.12, e.g. `pyenv install 3.12`")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def deployed(interpreter: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The build as Lambda unpacks it: files dated 1980, nothing written to it afterwards."""
    built = sam_build(tmp_path_factory.mktemp("build"), interpreter)
    yield as_deployed(built, tmp_path_factory.mktemp("deployed"))


@pytest.fixture(scope="module")
def runtime(interpreter: str) -> Path:
    return runtime_sdk(interpreter)


def probe(interpreter: str, deployed: Path, runtime: Path, logical_id: str) -> dict[str, Any]:
    task_root = deployed / logical_id
    result = subprocess.run(
        [
            interpreter,
            "-B",
            "-c",
            import_probe,
            str(task_root),
            str(deployed / "CommonLayer" / "python"),
            str(runtime),
            "app",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=lambda_environment(task_root, logical_id),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_the_layer_ships_no_sdk_of_its_own(deployed: Path) -> None:
    layer = deployed / "CommonLayer" / "python"
    shipped = {path.name.split("-")[0].lower() for path in layer.iterdir()}
    assert "avocette" in shipped and "aws_lambda_powertools" in shipped and "pydantic" in shipped
    assert not shipped & set(RUNTIME_PACKAGES), sorted(shipped & set(RUNTIME_PACKAGES))
    listed = (ROOT / "layers/common/requirements.txt").read_text().lower()
    assert not re.search(r"^(boto3|botocore|s3transfer|python-dateutil)\b", listed, flags=re.MULTILINE)


def test_every_module_has_hash_based_bytecode_for_python312(deployed: Path) -> None:
    layer = deployed / "CommonLayer" / "python"
    sources = sorted(layer.rglob("*.py"))
    assert len(sources) > 300
    missing, timestamped = [], []
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not cached.is_file():
            missing.append(str(source.relative_to(layer)))
            continue
        # PEP 552: flags bit 0 set = hash-based, usable whatever the files' dates.
        if not int.from_bytes(cached.read_bytes()[4:8], "little") & 0b1:
            timestamped.append(str(source.relative_to(layer)))
    assert not missing, missing[:20]
    assert not timestamped, timestamped[:20]
    assert {os.stat(source).st_mtime for source in sources[:50]} == {ZIP_EPOCH}


# ELF's e_machine of the two architectures Lambda runs.
MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}
# The wheel platform tags each architecture's layer may ship (or pure Python: none-any).
PLATFORM_TAGS = {"x86_64": "x86_64", "arm64": "aarch64"}


def layer_architecture_facts(layer: Path) -> tuple[set[int], set[str]]:
    """The ELF machines of the layer's compiled extensions, and its wheels' platform tags."""
    machines = {int.from_bytes(path.read_bytes()[18:20], "little") for path in layer.rglob("*.so")}
    tags = set()
    for wheel in layer.glob("*.dist-info/WHEEL"):
        for line in wheel.read_text().splitlines():
            if line.startswith("Tag:"):
                tags.add(line.split("-")[-1].strip())
    return machines, tags


def assert_built_for(layer: Path, architecture: str) -> None:
    machines, tags = layer_architecture_facts(layer)
    assert machines == {MACHINES[architecture]}, (architecture, machines)
    assert {tag for tag in tags if tag != "any"}, tags
    assert all(tag == "any" or tag.endswith(PLATFORM_TAGS[architecture]) for tag in tags), (architecture, tags)


def test_the_default_layer_is_built_for_x86_64(deployed: Path) -> None:
    assert_built_for(deployed / "CommonLayer" / "python", "x86_64")


def test_an_arm64_build_ships_aarch64_wheels_and_the_same_bytecode(
    interpreter: str, deployed: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Architecture=arm64 with ARCH=arm64 (as `make deploy` passes them): the layer's binary wheels are
    aarch64 ones (this x86_64 machine cannot import them: their platform tags and ELF headers say
    so), and everything else is the default build's, bytecode included."""
    built = sam_build(tmp_path_factory.mktemp("arm64"), interpreter, architecture="arm64")
    layer = built / "CommonLayer" / "python"
    assert_built_for(layer, "arm64")
    default = deployed / "CommonLayer" / "python"
    for package in ("avocette", "aws_lambda_powertools", "pydantic"):
        assert sorted(path.relative_to(layer) for path in (layer / package).rglob("*.pyc")) == sorted(
            path.relative_to(default) for path in (default / package).rglob("*.pyc")
        ), package
    for spec_dir in function_dirs():
        assert (built / spec_dir / "app.py").is_file()


def test_the_runtime_pins_are_one_consistent_sdk() -> None:
    pins = runtime_pins()
    assert pins["boto3"].rsplit(".", 1)[0] == pins["botocore"].rsplit(".", 1)[0]


def test_functions_import_from_the_layers_bytecode_and_the_runtimes_sdk(
    interpreter: str, deployed: Path, runtime: Path
) -> None:
    layer = str(deployed / "CommonLayer" / "python")
    for logical_id in function_dirs():
        before = {path for path in deployed.rglob("*") if path.is_file()}
        report = probe(interpreter, deployed, runtime, logical_id)
        compiled_in_layer = [path for path in report["compiled"] if path.startswith(layer)]
        assert not compiled_in_layer, (logical_id, compiled_in_layer[:10])
        # The handler module itself is the only source compiled at a cold start.
        assert [Path(path).name for path in report["compiled"]] in ([], ["app.py"]), (logical_id, report["compiled"])
        for name in ("boto3", "botocore"):
            assert report["modules"][name].startswith(str(runtime)), (logical_id, name, report["modules"][name])
        assert {path for path in deployed.rglob("*") if path.is_file()} == before, "the import wrote files"


@pytest.mark.parametrize("logical_id", sorted(function_dirs()))
def test_each_function_imports_only_what_its_routes_use(
    interpreter: str, deployed: Path, runtime: Path, logical_id: str
) -> None:
    modules = probe(interpreter, deployed, runtime, logical_id)["modules"]
    unwanted = [
        name for name in (*MUST_NOT_IMPORT.get(logical_id, ()), *NEVER_IMPORTED, *NEVER_PATCHED) if name in modules
    ]
    assert not unwanted, (logical_id, unwanted)
    if logical_id in ("StartPaymentFunction", "RegisterUserFunction"):
        # Invoice Cloud's client is loaded at init (not on the first request), with X-Ray to trace its calls.
        assert "avocette.invoicecloud.client" in modules and "aws_xray_sdk.core.recorder" in modules
    if logical_id not in (
        "PostbackFunction",
        "StatementLinksFunction",
        "RefreshBalancesFunction",
    ):  # plain handlers: no tracer
        assert "aws_xray_sdk.ext.botocore.patch" in modules
