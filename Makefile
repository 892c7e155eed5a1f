# The two everyday commands are `make run` and `make test`; both install first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test test-ordered lint layer preflight openapi runbooks audit-docs dashboard-screenshot cost analytics bench bench-report fuzz mutate clean

# Idempotent: re-installs only when a requirements file changed.
install: $(STAMP)

$(STAMP): requirements/dev.txt requirements/runtime.txt requirements/lock.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-r requirements/dev.txt -c requirements/lock.txt
	touch $(STAMP)

# The whole backend on 127.0.0.1 (PORT, default 8080), no AWS account needed: a line per
# request and errors; the functions' logs in build/local/functions.log (VERBOSE=1 shows them).
run: install
	$(PY) -m local $(if $(filter-out 0,$(VERBOSE)),--verbose)

# Lint first; then the tests in a random order (pytest-randomly): the seed is printed
# first, and `make test TEST_SEED=N` repeats an order.
ifeq ($(origin TEST_SEED), undefined)
TEST_SEED := $(shell $(PYTHON) -c "import random; print(random.randrange(2**32))")
endif
test: install lint
	@echo "make test: random order, seed $(TEST_SEED)"
	$(PY) -m pytest -p randomly --randomly-seed=$(TEST_SEED)

# The tests in their files' order.
test-ordered: install
	$(PY) -m pytest -p no:randomly

# The habits, configured in pyproject.toml: ruff's lint and formatting over the product
# and the local stack, import-linter's boundaries, mypy over both (pyproject.toml's files).
LINTED := components functions analytics analytics_queries local
lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The arm64 dependency layers for `pulumi up` (also built on demand by the program).
layer: install
	$(PY) -m components.packaging

# Read-only checks of the target account before `pulumi up` (credentials from the
# environment; AWS_ENDPOINT_URL points it elsewhere, e.g. at `make run`'s moto).
# Exits 0 ok, 1 a check failed, 3 nothing checked (no credentials, or no call answered).
STACK ?= dev
preflight: install
	$(PY) -m preflight --stack $(STACK)

# The API's OpenAPI contract, generated from the catalog (a test fails when it is stale).
openapi: install
	$(PY) -m components.openapi > docs/openapi.json

# On-call runbooks, generated from the alarm definitions (a test fails when stale).
runbooks: install
	$(PY) -m components.runbooks > docs/runbooks.md

# The audit-event reference, generated from the schema (a test fails when stale).
audit-docs: install
	$(PY) -m analytics_queries.docs > docs/audit-events.md

# Each stack's monthly bill, modelled from the program's own resources and the usage
# profile cost/profile.toml at the dated prices of cost/prices_eu-west-1.toml: prints
# `<stack> total: $<amount>/month` and the top items, writes docs/cost.md (a test fails
# when it is stale).
cost: install
	$(PY) -m cost

# The operations dashboard of the local stack with traffic, shot by headless Chromium.
dashboard-screenshot: install
	$(PY) -m local.headless docs/dashboard-operations.png

# A named query on the running local stack's audit events (the stack `make run` started
# on PORT), e.g.
#   make analytics ARGS="daily_registrations 2026-11-01 2026-11-30"
PORT ?= 8080
analytics: install
	$(PY) -m analytics_queries --stack http://127.0.0.1:$(PORT) $(ARGS)

# Schema-driven fuzzing of the local stack from docs/openapi.json: over 10,000 requests,
# with and without an access token; fails on any 5xx or undocumented answer.
fuzz: install
	SERENYA_FUZZ_EXAMPLES=400 $(PY) -m pytest tests/e2e/test_fuzz.py -s -q -p no:randomly -o addopts=""

# Benchmarks (not part of `make test`): numbers in docs/benchmarks.md.
bench: install
	$(PY) -m bench docs/benchmarks.md

# Every named query's answer, summarised, on the bench's generated audit events (about a
# million, 60 days of coherent journeys); EVENTS=60000 for a quicker look.
bench-report: install
	$(PY) -m bench.analytics --report --events $(or $(EVENTS),1000000)

# Mutation testing with mutmut (not part of `make test`): every module of
# mutation/modules.py by default, or some, e.g. `make mutate MODULES="functions/upload
# components/iam.py"`; a random sample of SAMPLE mutants per module drawn with SEED
# (SAMPLE=0: every mutant, hours here: raise BUDGET too), each module at most BUDGET
# seconds, 2 workers; fails under 90% killed. Kill ratios with their 95% intervals and
# survivors: docs/benchmarks.md (figures) and build/mutation/summary.json.
MODULES ?=
SAMPLE  ?= 60
SEED    ?= 37
BUDGET  ?= 1800
mutate: install
	$(PY) -m mutation --sample $(SAMPLE) --seed $(SEED) --budget $(BUDGET) --max-children 2 $(MODULES)

clean:
	rm -rf $(VENV) build .pytest_cache
