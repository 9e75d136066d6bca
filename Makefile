# Pylon: the two commands are `make run` and `make test` (README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CI and this machine kind: PostgreSQL and Redis on localhost. Override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install sdk-tools migrate seed serve worker beat openapi lint check-openapi check-migrations check-data-paths check-deploy test-postgres test-sqlite smoke-image benchmark clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## make run: install, migrate, load demo data, serve the API and docs on http://127.0.0.1:8000/api/docs/
run: install migrate seed serve

migrate: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

seed: install
	$(BIN)/python manage.py seed_demo

serve: install
	@echo "Pylon: http://$(HOST):$(PORT)/api/docs/  (admin: http://$(HOST):$(PORT)/admin/)"
	$(BIN)/uvicorn pylon.asgi:application --host $(HOST) --port $(PORT) --reload --reload-dir . --timeout-graceful-shutdown 2

worker: install
	$(BIN)/celery -A pylon worker --loglevel=INFO

beat: install
	$(BIN)/celery -A pylon beat --loglevel=INFO

openapi: install
	$(BIN)/python manage.py spectacular --file openapi.yaml --validate --fail-on-warn

## make test: install, lint, check schema/migrations/deploy settings, run the suite on PostgreSQL+Redis and on SQLite
test: install lint check-data-paths check-migrations check-openapi check-deploy test-postgres test-sqlite smoke-image
	@echo "All checks passed."

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The repository is complete on its own: no file names data outside it without an in-repo fallback.
check-data-paths:
	$(PYTHON) scripts/check_data_paths.py

check-migrations: install
	$(BIN)/python manage.py makemigrations --check --dry-run

check-openapi: install
	@tmp=$$(mktemp); \
	if ! $(BIN)/python manage.py spectacular --file $$tmp --validate --fail-on-warn; then \
		rm -f $$tmp; echo "the schema has errors or warnings (above)."; exit 1; fi; \
	if ! cmp -s $$tmp openapi.yaml; then diff -u openapi.yaml $$tmp | head -40; \
		echo "openapi.yaml is stale: run 'make openapi' and commit it."; rm -f $$tmp; exit 1; fi; \
	rm -f $$tmp; echo "openapi.yaml is current and valid."

check-deploy: install
	DEBUG=false SECRET_KEY=ci-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=') \
	JWT_SIGNING_KEY=ci-jwt-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=') \
	ALLOWED_HOSTS=pylon.example.com SECURE_SSL_REDIRECT=true SECURE_HSTS_SECONDS=31536000 \
	SECURE_HSTS_INCLUDE_SUBDOMAINS=true SECURE_HSTS_PRELOAD=true \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

## The pinned TypeScript tools of tests/sdk/ (npm registry); skipped, and the test with it, without npm.
SDK_TOOLS := tests/sdk/typescript
$(SDK_TOOLS)/node_modules/.installed: $(SDK_TOOLS)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(SDK_TOOLS) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the TypeScript SDK check will be skipped"; fi

sdk-tools: $(SDK_TOOLS)/node_modules/.installed

test-postgres: install sdk-tools
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_TASK_ALWAYS_EAGER=true \
	$(BIN)/pytest --create-db -q $(PYTEST_ARGS)

test-sqlite: install sdk-tools
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest --create-db -q $(PYTEST_ARGS)

## The Dockerfile's build and start steps, run here (no Docker engine on this machine kind).
smoke-image: install
	BIN=$(BIN) ./docker/smoke.sh

clean:
	rm -rf $(VENV) var staticfiles
