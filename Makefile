# ExoTrack: `make demo` runs the site on SQLite with in-process tasks (seeding the
# demo cohort only into an empty database, so that running it again keeps what was
# done in the demo); `make test` runs the whole suite. Both create .venv when missing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# One stamp per installed set, named by the hash of the files it came from: a change to
# either file reinstalls. The dev set (tests, lint) includes the runtime set.
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(shell cat requirements.txt | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo test lint install install-dev serve clean bench

# The runtime only (what production installs): enough for `make demo`.
$(RUNTIME_STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-runtime-* && touch $@

# The runtime and the test and lint tools.
$(DEV_STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)

install-dev: $(DEV_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo --users --if-empty
	$(BIN)/python manage.py analyse --base-url http://$(HOST):$(PORT) \
		|| echo "The paper's plan did not run (see above); the site starts anyway."
	@echo ""
	@echo "ExoTrack demo: http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	@echo "Log in as curator / exotrack-demo  (also: technician, analyst; same password)"
	@echo ""
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

test: $(DEV_STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles tests/screenshots .pytest_cache
