# Two commands on a fresh machine: `make run` and `make test`. Needs python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
# Incoming WebSocket messages over 64 KiB are refused (close 1009) while they arrive,
# before they are buffered: the consumer's own limit is the same.
DAPHNE_FLAGS ?= --websocket-max-message-size 65536 --websocket-max-frame-size 65536

.PHONY: run serve test lint format typecheck pytest migrate proto superuser clean

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
	$(BIN)/daphne -b $(HOST) -p $(PORT) $(DAPHNE_FLAGS) pianorhythm.asgi:application

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

pytest: $(VENV)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

## proto: regenerate realtime/proto's Python code and type stubs from the .proto (commit them)
proto: $(VENV)/.dev
	$(BIN)/python -m grpc_tools.protoc -I realtime/proto --python_out=realtime/proto \
		--pyi_out=realtime/proto realtime/proto/pianorhythm/v1/protocol.proto

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
