# Two commands: `make run` (demo on SQLite, or DATABASE_URL) and `make test`.
# `make run ADDR=127.0.0.1:8011` serves on another port.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell (cat pyproject.toml; python3 --version) | cksum | cut -d' ' -f1)

.PHONY: install run test lint check bench soak browser pgbouncer clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The demo on plain HTTP: its receiver on, and its URL exempt from the private-network refusal.
ADDR ?= 127.0.0.1:8000
DEMO_ENV = HTTPS=$${HTTPS:-False} DEMO_RECEIVER=$${DEMO_RECEIVER:-True} \
	INTEGRATION_ALLOWED_URLS=$${INTEGRATION_ALLOWED_URLS:+$$INTEGRATION_ALLOWED_URLS,}http://$(ADDR)/demo/receiver/

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(DEMO_ENV) $(PY) manage.py load_demo --addr $(ADDR)
	@echo "Admin: http://$(ADDR)/admin/ (admin / admin). The demo's workflows act within a minute:"
	@echo "  log http://$(ADDR)/admin/automation/logentry/  API docs http://$(ADDR)/api/v1/docs/"
	$(DEMO_ENV) $(PY) manage.py run_all --addr $(ADDR)

# Debian's Chromium for the admin's browser tests (Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing: apt-get install chromium (browser tests need it)"; exit 1; fi; }

# Debian's PgBouncer: on PostgreSQL, `make test` runs the engine and cluster tests
# again through it, in transaction-pooling mode (tests/pgbouncer.py).
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer; \
	  else echo "pgbouncer missing: apt-get install pgbouncer (the pooled test run needs it)"; exit 1; fi; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

test: install browser lint
	$(PY) -m pytest $(PYTEST_ARGS)
	@case "$${DATABASE_URL:-}" in postgres*) \
	  $(MAKE) --no-print-directory pgbouncer && \
	  $(PY) -m pytest --pgbouncer tests/test_db_backend.py tests/automation tests/cluster $(PYTEST_ARGS);; \
	esac

bench: install
	$(PY) bench/run.py
	$(PY) bench/admin_list.py

# 10 minutes of load with a random process SIGKILLed every 20 s (PostgreSQL;
# SOAK_ARGS="--redis redis://127.0.0.1:6379/12" for the Redis broker).
soak: install
	$(PY) bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var
