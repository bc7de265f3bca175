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
    "request_probe",
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


def sam_build(build_dir: Path, interpreter: str, *, architecture: str = "x86_64") -> Path:
    """`sam build` of template.yaml into ``build_dir`` (the layer through layers/common/Makefile), for
    ``architecture`` (the template's parameter, and the layer's ARCH, as `make deploy` gives them)."""
    environment = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PATH": f"{Path(interpreter).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LAYER_PYTHON": interpreter,
        "ARCH": architecture,
    }
    result = subprocess.run(  # noqa: S603 - the venv's sam on our template
        [
            *(str(BIN / "sam"), "build", "--template", "template.yaml", "--build-dir", str(build_dir)),
            *("--parameter-overrides", f"Architecture={architecture}"),
        ],
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
    """What Lambda sets that the libraries and the functions read at import (tracing on, as deployed;
    the runtime's API, whose presence tells a function it runs in Lambda's runtime)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
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


# Run as ``python3.12 -B -c REQUEST_PROBE <case.json> <answer.json>``: a cold request, as Lambda's
# bootstrap makes it. The case says what the process is:
# - a function ("calls" null): its handler imported (sys.path as Lambda orders it), then invoked once
#   with the case's event; with "record", every botocore call it makes is kept (untimed runs only);
# - the floor ("calls" a list): ``import boto3``, then each call made with a client of its service,
#   made on first use (DynamoDB's configured as the store configures it), bodies read to the end.
# Times are taken inside the process: the import, then the rest, in CPU and wall time. The handler's
# log lines go to /dev/null (Lambda's log pipe costs little); the answer goes to the file named.
request_probe = r"""
import importlib._bootstrap_external as external, json, os, sys, time
with open(sys.argv[1]) as handle:
    case = json.load(handle)
sys.path[:0] = case["path"]
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
compiled = []
original = external.SourceLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = source_to_code
class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 10000
calls = case["calls"]
if calls is not None:
    import base64
    def decoded(value):
        if isinstance(value, dict):
            if set(value) == {"__bytes__"}:
                return base64.b64decode(value["__bytes__"])
            return {key: decoded(item) for key, item in value.items()}
        if isinstance(value, list):
            return [decoded(item) for item in value]
        return value
    calls = [(call["service"], call["method"], decoded(call["params"])) for call in calls]
recorded = []
if case.get("record"):
    import copy, botocore.client
    make = botocore.client.BaseClient._make_api_call
    def recording(self, operation, params):
        recorded.append((self.meta.service_model.service_name, operation, copy.deepcopy(params)))
        return make(self, operation, params)
    botocore.client.BaseClient._make_api_call = recording
status = None
began_cpu, began = time.process_time(), time.perf_counter()
if calls is None:
    handler = __import__(case["module"]).lambda_handler
    imported_cpu, imported = time.process_time(), time.perf_counter()
    answer = handler(case["event"], Context())
    if isinstance(answer, dict):
        status = answer.get("statusCode")
else:
    import boto3
    imported_cpu, imported = time.process_time(), time.perf_counter()
    from botocore.config import Config
    configs = {
        "dynamodb": Config(
            retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5, max_pool_connections=32
        ),
    }
    clients = {}
    for service, method, params in calls:
        client = clients.get(service)
        if client is None:
            client = clients[service] = boto3.client(service, config=configs.get(service))
        response = getattr(client, method)(**params)
        body = response.get("Body")
        if body is not None:
            body.read()
done_cpu, done = time.process_time(), time.perf_counter()
if recorded:
    import base64
    from botocore import xform_name
    def encoded(value):
        if isinstance(value, (bytes, bytearray)):
            return {"__bytes__": base64.b64encode(bytes(value)).decode()}
        if isinstance(value, dict):
            return {key: encoded(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [encoded(item) for item in value]
        if hasattr(value, "read"):
            return {"__bytes__": base64.b64encode(value.read()).decode()}
        return value
    recorded = [
        {"service": service, "method": xform_name(operation), "params": encoded(params)}
        for service, operation, params in recorded
    ]
with open(sys.argv[2], "w") as handle:
    json.dump(
        {
            "import_cpu": imported_cpu - began_cpu,
            "import_seconds": imported - began,
            "request_cpu": done_cpu - imported_cpu,
            "request_seconds": done - imported,
            "status": status,
            "compiled": compiled,
            "calls": recorded,
            "modules": sorted(sys.modules),
        },
        handle,
    )
"""
