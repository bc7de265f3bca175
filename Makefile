# The README's two commands are `make dev` and `make test`; each builds the virtual environment first
# when it is missing or older than the requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed
MUTATE_VENV := .venv-mutate
MUTATE_STAMP := $(MUTATE_VENV)/.installed
# make mutate: the modules (tools/mutation.py names them), the model's sequences a mutant, mutants at once.
# 100 sequences: at 60 the model (seed 0) never settles a review, and review.py's only tests are its.
MUTATE_MODULES ?= postbacks reconciliation review billing
MUTATE_EXAMPLES ?= 100
MUTATE_JOBS ?= 2

.PHONY: dev test check lint typecheck unit integration infra e2e openapi bench soak fuzz load fmt clean scan mutate deploy portal require-env \
	dynamodb-corpus

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# The shared layer and the repository root on the venv's path, as Lambda's /opt/python would be.
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_path("purelib"), "avocette-dev.pth").write_text("$(CURDIR)/layers/common\n$(CURDIR)\n")'
	@touch $(STAMP)

dev: $(STAMP)
	$(PY) -m sandbox

test: $(STAMP) lint typecheck scan
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy
	@# Every function's module is app.py, so each is checked on its own.
	@for app in functions/*/app.py; do $(PY) -m mypy --no-error-summary $$app || exit 1; done

# The quick loop while changing code (under 90 s on two cores): lint, types, and the unit tests but the
# fake DynamoDB's own tests; the model of the money rules and everything slower wait for `make test`.
check: $(STAMP) lint typecheck
	$(PY) -m pytest tests/unit -q --ignore=tests/unit/test_fake_dynamodb.py --ignore=tests/unit/test_fake_dynamodb_replay.py

unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/property

integration: $(STAMP)
	$(PY) -m pytest tests/integration

infra: $(STAMP)
	$(PY) -m pytest tests/infra

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

# The DynamoDB requests the store sends, recorded during the integration and fault suites and reduced
# to the corpus that the in-memory fake's differential test replays on moto and on the fake
# (tests/fakes/README.md). The whole recording stays in DYNAMODB_RECORDING for a look at it.
DYNAMODB_RECORDING ?= .dynamodb-recording.jsonl
dynamodb-corpus: $(STAMP)
	rm -f $(DYNAMODB_RECORDING)
	DYNAMODB_RECORD=$(DYNAMODB_RECORDING) $(PY) -m pytest tests/integration tests/security/test_faults.py -q
	$(PY) -m tests.fakes.recording corpus $(DYNAMODB_RECORDING) tests/data/dynamodb_requests.jsonl
	$(PY) -m tests.fakes.recording shapes $(DYNAMODB_RECORDING)

openapi: $(STAMP)
	$(PY) -m tools openapi > docs/openapi.json

bench: $(STAMP)
	$(PY) -m bench

# The model of the money rules for a long run (SOAK_EXAMPLES, SOAK_STEPS); figures in docs/reliability.md.
soak: $(STAMP)
	$(PY) -m tests.property.soak

# The security suite's long runs (docs/security.md): contract fuzzing with 2,000 requests per operation
# and every DynamoDB fault kind; load with 500 payments and 2,000 postbacks.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=2000 FAULTS=all $(PY) -m pytest tests/security/test_contract.py tests/security/test_faults.py -s

load: $(STAMP)
	LOAD_STARTS=500 LOAD_POSTBACKS=2000 $(PY) -m pytest tests/security/test_load.py -s

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(MUTATE_VENV) mutants src .aws-sam .mypy_cache .ruff_cache .scan

# The infrastructure scan: checkov over template.yaml, in its own virtual environment (its pins would
# break the functions'). Every finding is fixed or suppressed in the template with its reason.
$(SCAN_STAMP): requirements-scan.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements-scan.txt
	@touch $(SCAN_STAMP)

# checkov drops resources whose condition is false with the parameters' defaults: the trial's (user pool,
# hosted sign-in, demo portal) are scanned in a copy of the template whose CreateDemoUserPool is true.
TRIAL_TEMPLATE := .scan/template-trial.yaml
scan: $(SCAN_STAMP)
	$(SCAN_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet
	@mkdir -p $(dir $(TRIAL_TEMPLATE))
	sed '/^  CreateDemoUserPool:/,/Default:/ s/Default: "false"/Default: "true"/' template.yaml > $(TRIAL_TEMPLATE)
	@! cmp -s template.yaml $(TRIAL_TEMPLATE) || { echo "make scan: CreateDemoUserPool's default was not switched" >&2; exit 1; }
	$(SCAN_VENV)/bin/checkov --file $(TRIAL_TEMPLATE) --framework cloudformation --skip-download --compact --quiet

# Mutation testing of the money rules (docs/reliability.md), in its own virtual environment: mutmut
# pins a newer click than aws-sam-cli allows. No .pth here: the tests must import mutmut's mutated copy
# of the layer (mutants/src, put first on the path by mutmut), never the layer itself.
$(MUTATE_STAMP): requirements-mutate.txt layers/common/requirements.txt
	@test -x $(MUTATE_VENV)/bin/python || $(PYTHON) -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MUTATE_VENV)/bin/python -m pip install --quiet -r requirements-mutate.txt
	@touch $(MUTATE_STAMP)

# A fresh run each time (mutmut keeps a mutant's verdict while its function is unchanged, even when
# the tests changed). src -> layers/common is how mutmut finds the layer's modules (pyproject.toml).
# The mutant names are quoted patterns: set -f keeps the shell from globbing them.
mutate: $(MUTATE_STAMP)
	ln -sfn layers/common src
	rm -rf mutants
	@set -f; start=$$(date +%s); \
	MODEL_EXAMPLES=$(MUTATE_EXAMPLES) $(MUTATE_VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) \
		$$($(MUTATE_VENV)/bin/python -m tools.mutation patterns $(MUTATE_MODULES)) && \
	$(MUTATE_VENV)/bin/python -m tools.mutation report --seconds $$(( $$(date +%s) - start )) \
		--examples $(MUTATE_EXAMPLES) --jobs $(MUTATE_JOBS) $(MUTATE_MODULES)

# `make deploy ENV=dev|prod`: sam build, then sam deploy with that environment of samconfig.toml.
# GUIDED=1 asks for the parameters samconfig.toml does not hold and saves them there (first deploy).
require-env:
	@test -n "$(ENV)" || { echo "make $(or $(MAKECMDGOALS),deploy) needs ENV: make $(or $(MAKECMDGOALS),deploy) ENV=dev (or ENV=prod); see docs/operations.md" >&2; exit 2; }
	@grep -q '^\[$(ENV)\.deploy\.parameters\]' samconfig.toml || { echo "samconfig.toml has no environment '$(ENV)'" >&2; exit 2; }

# The functions' architecture is the environment's Architecture parameter in samconfig.toml (x86_64
# when it sets none): sam build resolves the layer's BuildArchitecture with it, and the layer's Makefile
# picks the wheels for it from ARCH.
ARCHITECTURE = $(shell $(PY) -c 'import re, sys, tomllib; deploy = tomllib.load(open("samconfig.toml", "rb")).get(sys.argv[1], {}).get("deploy", {}).get("parameters", {}); found = re.search(r"Architecture=\W*(x86_64|arm64)", deploy.get("parameter_overrides", "")); print(found.group(1) if found else "x86_64")' $(ENV))

deploy: require-env $(STAMP)
	SAM_CLI_TELEMETRY=0 ARCH=$(ARCHITECTURE) $(VENV)/bin/sam build --config-env $(ENV) \
		--parameter-overrides Architecture=$(ARCHITECTURE)
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam deploy --config-env $(ENV) $(if $(GUIDED),--guided)
	$(PY) -m tools portal --env $(ENV)

# `make portal ENV=dev`: the demo portal of a trial stack (CreateDemoUserPool=true), published again
# from sandbox/portal with the config.json its stack's outputs make; `make deploy` ends with it, and
# says so and does nothing for a stack without the portal (prod).
portal: require-env $(STAMP)
	$(PY) -m tools portal --env $(ENV)
