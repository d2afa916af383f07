# Two commands on a fresh machine: `make run` and `make test`. Needs python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
# Extra Daphne options for `make serve` (pianorhythm.server adds the message size limit and
# the request deadline of the settings).
DAPHNE_FLAGS ?=
# bench/node's npm packages, installed once (the benchmark and its tests need them).
NODE_DIR := bench/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: run serve test test-fast lint format typecheck pytest migrate proto vendor superuser clean bench \
	bench-node profile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## run: set up, migrate and serve with Daphne on $(HOST):$(PORT)
run: $(VENV)/.runtime migrate serve

serve:
	$(BIN)/python -m pianorhythm.server -b $(HOST) -p $(PORT) $(DAPHNE_FLAGS)

migrate: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput

superuser: $(VENV)/.runtime
	$(BIN)/python manage.py createsuperuser

## test: set up, lint, type-check and run the whole suite
test: lint pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

pytest: $(VENV)/.dev $(NODE_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## test-fast: the edit loop: the suite without the e2e tests (no server processes, no browser)
test-fast: $(VENV)/.dev
	$(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)

# The benchmark's Node.js tools (bench/node: the node-ws peer, the second load generator) and
# their tests: ws and protobufjs, pinned in package-lock.json, installed once by `npm ci`.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ echo "bench/node needs Node.js and npm: apt-get install nodejs npm" >&2; exit 1; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## bench-node: install bench/node's npm packages (ws, protobufjs) from package-lock.json
bench-node: $(NODE_STAMP)

$(VENV)/.bench: bench/requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

## bench: fan-out benchmark (README, Benchmark), < 20 min; writes bench/results/<date>.{json,md}
bench: $(VENV)/.dev $(VENV)/.bench $(NODE_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## profile: py-spy profiles of the server under load per target and layout (bench/profile.py);
##          writes bench/results/profiles/
profile: $(VENV)/.dev $(VENV)/.bench $(NODE_STAMP)
	$(BIN)/python -m bench.profile $(PROFILE_ARGS)

## proto: regenerate realtime/proto's Python code and type stubs from the .proto (commit them)
proto: $(VENV)/.dev
	$(BIN)/python -m grpc_tools.protoc -I realtime/proto --python_out=realtime/proto \
		--pyi_out=realtime/proto realtime/proto/pianorhythm/v1/protocol.proto

## vendor: refresh the web client's protobuf.js (pinned) from the npm registry (needs npm)
PROTOBUFJS_VERSION := 8.8.1
vendor:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent protobufjs@$(PROTOBUFJS_VERSION) >/dev/null) && \
	tar -xzf "$$tmp/protobufjs-$(PROTOBUFJS_VERSION).tgz" -C "$$tmp" && \
	mkdir -p static/vendor/protobufjs && \
	cp "$$tmp/package/dist/protobuf.min.js" "$$tmp/package/dist/protobuf.min.js.map" \
		"$$tmp/package/LICENSE" static/vendor/protobufjs/ && \
	echo "static/vendor/protobufjs: protobufjs $(PROTOBUFJS_VERSION)"

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
