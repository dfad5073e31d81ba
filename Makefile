# The two commands: `make test` (everything, from a fresh clone) and, with the local runtime, `make dev`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
SAM_VENV := .venv-sam
SAM_VERSION := 1.170.0

.PHONY: test install lint clean

test: install
	$(VENV)/bin/ruff check .
	SAM_CLI=$(SAM_VENV)/bin/sam $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed $(SAM_VENV)/.installed

# The dev install: the core package (editable) with test tools.
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

# aws-sam-cli pins an older boto3, so it lives in a virtual environment of its own.
$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)
	touch $@

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache
