# The README's two commands are `make dev` and `make test`; each builds the virtual environment first
# when it is missing or older than the requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: dev test lint typecheck unit integration infra e2e openapi bench soak fmt clean

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# The shared layer and the repository root on the venv's path, as Lambda's /opt/python would be.
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_path("purelib"), "avocette-dev.pth").write_text("$(CURDIR)/layers/common\n$(CURDIR)\n")'
	@touch $(STAMP)

dev: $(STAMP)
	$(PY) -m sandbox

test: $(STAMP) lint typecheck
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy
	@# Every function's module is app.py, so each is checked on its own.
	@for app in functions/*/app.py; do $(PY) -m mypy --no-error-summary $$app || exit 1; done

unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/property

integration: $(STAMP)
	$(PY) -m pytest tests/integration

infra: $(STAMP)
	$(PY) -m pytest tests/infra

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

openapi: $(STAMP)
	$(PY) -m tools openapi > docs/openapi.json

bench: $(STAMP)
	$(PY) -m bench

# The model of the money rules for a long run (SOAK_EXAMPLES, SOAK_STEPS); figures in docs/reliability.md.
soak: $(STAMP)
	$(PY) -m tests.property.soak

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .ruff_cache
