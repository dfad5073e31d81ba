# The two commands: `make dev` (the whole stack on this machine) and `make test` (everything).
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
SAM_VENV := .venv-sam
SAM_VERSION := 1.170.0
MUTMUT_VERSION := 3.8.0
NODE_CLIENTS := tests/e2e/node
ASYNCAPI_CHECK := tools/asyncapi
CLIENTS := clients
JS_CLIENT := clients/js
WEB_APP := clients/web

.PHONY: dev test bench fuzz mutation install lint build clean contract

dev: $(VENV)/.installed $(WEB_APP)/dist/app.js
	$(VENV)/bin/prdtool-local serve $(DEV_ARGS)

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy shared/prdtool local/prdtool_local
	# Each function's entry point is a module named app: one mypy run each.
	for f in functions/*/app.py; do $(VENV)/bin/mypy $$f || exit 1; done
	SAM_CLI=$(SAM_VENV)/bin/sam $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Benchmarks: prints the table and writes docs/benchmarks.md (17 to 30 minutes on 2 cores, by the host).
bench: $(VENV)/.installed
	$(VENV)/bin/python -m bench.run

# The gateway's property-based test at length (docs/testing.md); `make test` runs a few hundred frames.
FUZZ_EXAMPLES ?= 20000
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/python -m pytest tests/handlers/test_fuzz.py -q --hypothesis-show-statistics

# Mutation testing of codec, positions and crdt against the unit tests; not part of `make test`
# (docs/testing.md). MUTATION_ARGS go to `mutmut run`, e.g. MUTATION_ARGS='prdtool.kernel.codec*'.
mutation: $(VENV)/.installed $(VENV)/.mutmut-$(MUTMUT_VERSION)
	$(VENV)/bin/python tools/mutation.py $(MUTATION_ARGS)

# The AsyncAPI document and the payloads' JSON Schemas (docs/asyncapi.yaml, docs/schemas/), made
# from the models the server validates with, and the JS client's types made from those schemas;
# tests/test_contract.py fails when any of them is stale.
contract: $(VENV)/.installed $(CLIENTS)/node_modules/.installed
	$(VENV)/bin/python tools/contract.py
	cd $(JS_CLIENT) && npm run --silent types

install: $(VENV)/.installed $(SAM_VENV)/.installed $(NODE_CLIENTS)/node_modules/.installed \
	$(ASYNCAPI_CHECK)/node_modules/.installed $(WEB_APP)/dist/app.js $(VENV)/.chromium

# The dev install: the core package and the local runtime (editable), with test tools.
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

# mutmut, only for `make mutation` (pinned: its configuration and output change between releases).
$(VENV)/.mutmut-$(MUTMUT_VERSION): | $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet mutmut==$(MUTMUT_VERSION)
	touch $@

# aws-sam-cli pins an older boto3, so it lives in a virtual environment of its own.
$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)
	touch $@

# Stock Socket.IO clients for the end-to-end tests, from the committed lockfile.
$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package-lock.json
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The official AsyncAPI parser, which tests/test_contract.py validates docs/asyncapi.yaml with.
$(ASYNCAPI_CHECK)/node_modules/.installed: $(ASYNCAPI_CHECK)/package-lock.json
	cd $(ASYNCAPI_CHECK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The JavaScript client (clients/js) and the web app (clients/web): one npm workspace, so both use
# one copy of yjs; installed from its lockfile, then built (TypeScript to clients/js/dist, and the
# app bundled by esbuild into clients/web/dist, which `make dev` serves at /).
JS_SOURCES = $(wildcard $(JS_CLIENT)/src/*.ts $(JS_CLIENT)/src/*/*.ts) $(JS_CLIENT)/tsconfig.json
WEB_SOURCES = $(wildcard $(WEB_APP)/src/*) $(WEB_APP)/index.html $(WEB_APP)/build.mjs $(WEB_APP)/tsconfig.json

$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package-lock.json
	cd $(CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(JS_CLIENT)/dist/index.js: $(CLIENTS)/node_modules/.installed $(JS_SOURCES)
	cd $(CLIENTS) && npm run --silent build -w @prdtool/client
	touch $@

$(WEB_APP)/dist/app.js: $(JS_CLIENT)/dist/index.js $(WEB_SOURCES)
	cd $(CLIENTS) && npm run --silent build -w @prdtool/web

# Debian's Chromium, for the browser tests (tests/browser); as root, or through sudo.
$(VENV)/.chromium: | $(VENV)/.installed
	command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	touch $@

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# sam build needs a python3.12 on PATH (the Lambda runtime); pyenv's is used when present.
# Then every module is compiled: Lambda's code is read-only, so a module shipped without its .pyc
# is compiled again on each cold start. Hash-based .pyc (PEP 552), since the zip keeps no mtimes.
PY312_PATH = $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin))
build: $(SAM_VENV)/.installed
	PATH="$(PY312_PATH):$$PATH" $(SAM_VENV)/bin/sam build
	PATH="$(PY312_PATH):$$PATH" python3.12 -m compileall -q -f -j 0 --invalidation-mode unchecked-hash .aws-sam/build

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache $(NODE_CLIENTS)/node_modules $(ASYNCAPI_CHECK)/node_modules \
		$(CLIENTS)/node_modules $(JS_CLIENT)/dist $(WEB_APP)/dist
