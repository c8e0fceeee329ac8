# The two commands a newcomer needs: `make run` and `make test`. Everything else is for operators.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# pyenv picks 3.12 from .python-version; elsewhere use python3.12 if it is on the PATH.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
WITH_DB := $(BIN)/python scripts/with_database.py
REDIS_URL_FOR_TESTS ?= redis://127.0.0.1:6379/0
# Test processes in parallel (pytest-xdist): one per core. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= auto
# Work stealing: a worker that runs out of tests takes half of the other's queue, so both finish
# together (tests/conftest.py runs the modules with slow tests first).
TEST_DIST := $(if $(filter 0,$(TEST_WORKERS)),,--dist worksteal)

DEV_ENV := DJANGO_DEBUG=true INT_DEMO_MODE=true DJANGO_SECRET_KEY=dev-only-not-secret
TEST_ENV := DJANGO_SECRET_KEY=test-only-not-secret DJANGO_SECURE_SSL_REDIRECT=false INT_STATIC_MANIFEST=false \
	CELERY_TASK_ALWAYS_EAGER=true INT_REQUIRE_MFA=false REDIS_URL=$${REDIS_URL:-$(REDIS_URL_FOR_TESTS)}

.PHONY: run test lint install worker beat bench lock backup restore loadtest clean-data

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python 3.12 or newer is needed (found " + sys.version.split()[0] + "); install it, e.g. with pyenv.")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed

run: install
	$(DEV_ENV) $(WITH_DB) bash -c '\
		$(BIN)/python manage.py migrate --no-input && \
		$(BIN)/python manage.py seed_demo --once && \
		exec $(BIN)/python manage.py runserver 127.0.0.1:8000'

# ruff: lint and import order (pyproject.toml's [tool.ruff]); then import-linter: no app imports one
# in a layer above it ([tool.importlinter], docs/adr/0007-layers.md). Run first by `make test`, so in CI too.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: install lint
	$(TEST_ENV) $(WITH_DB) $(BIN)/python -m pytest -n $(TEST_WORKERS) $(TEST_DIST) $(PYTEST_ARGS)

bench: install
	$(TEST_ENV) $(WITH_DB) $(BIN)/python scripts/bench.py

# With REDIS_URL set, tasks go to Redis: run these beside `make run` in other terminals.
worker: install
	$(DEV_ENV) $(WITH_DB) $(BIN)/celery -A int_app worker --loglevel=INFO

beat: install
	$(DEV_ENV) $(WITH_DB) $(BIN)/celery -A int_app beat --loglevel=INFO --schedule .data/celerybeat-schedule

lock:
	$(BIN)/pip-compile --quiet --strip-extras --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --extra dev --output-file requirements-dev.lock pyproject.toml

# pg_dump custom format; FILE= names the backup (default backups/int-<UTC time>.dump).
backup: install
	$(WITH_DB) $(BIN)/python scripts/backup.py backup $(FILE)

restore: install
	@test -n "$(FILE)" || (echo "make restore FILE=backups/int-....dump" && exit 2)
	$(WITH_DB) $(BIN)/python scripts/backup.py restore $(FILE)

# 20 users for 90 s against gunicorn on 127.0.0.1 with the demo data; prints p50/p95/p99 and errors.
loadtest: install
	$(WITH_DB) $(BIN)/python scripts/loadtest.py

clean-data:
	rm -rf .data
