# `make demo` and `make test` are the README's first two commands: they must work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LINT_PATHS := runner tests $(wildcard bench) $(wildcard tools)

.PHONY: demo test lint clean

$(BIN)/vapi-campaign: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/vapi-campaign
	$(BIN)/vapi-campaign run sample_data/customers.csv -c campaigns/example/campaign.toml \
		-o runs/demo --sandbox --resources campaigns/example/sandbox-resources.json --yes
	@echo "Outcomes in about 20 seconds: $(BIN)/vapi-campaign status runs/demo"

# Everything, with the coverage floor; the everyday subset is `pytest -m "not slow"` (no coverage).
# pyproject's addopts spread both over every core (pytest-xdist); `-n0` runs in one process, to debug.
test: $(BIN)/vapi-campaign
	$(BIN)/pytest -q --cov=runner --cov-report=term:skip-covered --cov-fail-under=92

lint: $(BIN)/vapi-campaign
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
