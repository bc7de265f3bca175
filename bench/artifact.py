"""What Lambda runs: the `sam build` output, a python3.12, and the runtime's own boto3.

- :func:`sam_build` builds template.yaml as `sam build` does for a deployment.
- :func:`runtime_sdk` installs the boto3 and botocore pinned in requirements-dev.txt (the Lambda
  python3.12 runtime's versions, docs/performance.md) for python3.12, once, into a cache directory:
  Lambda's ``/var/runtime``.
- :func:`as_deployed` copies a build as Lambda sees it: every file dated 1980-01-01 (as in the zip).
- :func:`import_probe` is a program that imports a function's handler the way Lambda's bootstrap does
  and reports, as JSON, how long the import took, which modules it loaded and which it compiled
  from source (those whose bytecode was missing or not usable).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from stackdef.template import ROOT, function_specs

__all__ = [
    "ZIP_EPOCH",
    "as_deployed",
    "function_dirs",
    "import_probe",
    "lambda_environment",
    "python312",
    "runtime_pins",
    "runtime_sdk",
    "sam_build",
]

# The earliest time a zip entry can carry: Lambda's code and layers unpack with it.
ZIP_EPOCH = 315_532_800  # 1980-01-01T00:00:00Z
BIN = Path(sys.executable).parent
CACHE = ROOT / ".aws-sam" / "bench"


def python312() -> str | None:
    from tests.environment import python312 as find  # noqa: PLC0415 - the one place that knows where

    return find()


def runtime_pins() -> dict[str, str]:
    """boto3's and botocore's versions as requirements-dev.txt pins them."""
    text = (ROOT / "requirements-dev.txt").read_text()
    pins = dict(re.findall(r"^(boto3|botocore|s3transfer)==(\S+)", text, flags=re.MULTILINE))
    if {"boto3", "botocore"} - set(pins):
        raise RuntimeError("requirements-dev.txt must pin boto3 and botocore to the Lambda runtime's versions")
    return pins


def runtime_sdk(interpreter: str) -> Path:
    """A directory with the runtime's boto3 for python3.12 (made once per set of pins)."""
    pins = runtime_pins()
    target = CACHE / ("runtime-" + "-".join(f"{name}{version}" for name, version in sorted(pins.items())))
    if (target / "boto3" / "__init__.py").is_file():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(  # noqa: S603 - our interpreter and our pins
        [interpreter, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(partial)]
        + [f"{name}=={version}" for name, version in sorted(pins.items())],
        check=True,
        timeout=600,
    )
    # Lambda's runtime ships its SDK compiled, as any installed package.
    subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0", str(partial)], check=True, timeout=600)  # noqa: S603
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def sam_build(build_dir: Path, interpreter: str) -> Path:
    """`sam build` of template.yaml into ``build_dir`` (the layer through layers/common/Makefile)."""
    environment = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PATH": f"{Path(interpreter).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LAYER_PYTHON": interpreter,
    }
    result = subprocess.run(  # noqa: S603 - the venv's sam on our template
        [str(BIN / "sam"), "build", "--template", "template.yaml", "--build-dir", str(build_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError("sam build failed:\n" + result.stdout[-4000:] + result.stderr[-4000:])
    return build_dir


def as_deployed(build_dir: Path, target: Path) -> Path:
    """A copy of the build with every file and directory dated as the zip dates them (1980)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(build_dir, target, symlinks=True)
    for directory, _names, files in os.walk(target):
        for name in files:
            os.utime(Path(directory, name), (ZIP_EPOCH, ZIP_EPOCH), follow_symlinks=False)
        os.utime(directory, (ZIP_EPOCH, ZIP_EPOCH))
    return target


def function_dirs() -> dict[str, str]:
    """Each function's code directory name (functions/<name>) by its logical id."""
    return {spec.logical_id: spec.code_dir.name for spec in function_specs()}


def lambda_environment(task_root: Path, function: str) -> dict[str, str]:
    """What Lambda sets that the libraries read at import (tracing on, as deployed)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_SERVICE_NAME": "avocette-payments",
        "POWERTOOLS_METRICS_NAMESPACE": "Avocette",
        "APP_TABLE_NAME": "bench-app",
    }


# Run as ``python3.12 -B -c PROBE <task root> <layer> <runtime> <module>``: sys.path as Lambda's
# bootstrap orders it (the function, the layer, the runtime), the import timed in the process, and
# the loader's compilations of source recorded (a module whose .pyc was used compiles nothing).
import_probe = r"""
import importlib._bootstrap_external as external, json, sys, time
task_root, layer, runtime, module = sys.argv[1:5]
sys.path[:0] = [task_root, layer, runtime]
compiled = []
original = external.SourceLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = source_to_code
began_cpu, began = time.process_time(), time.perf_counter()
__import__(module)
elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
modules = {
    name: getattr(value, "__file__", None)
    for name, value in list(sys.modules.items())
}
print(json.dumps({"seconds": elapsed, "cpu": cpu, "compiled": compiled, "modules": modules}))
"""
