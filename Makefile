# ExoTrack: `make demo` runs the site on SQLite with in-process tasks (seeding the
# demo cohort only into an empty database, so that running it again keeps what was
# done in the demo); `make test` runs the whole suite. Both create .venv when missing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo test lint install serve clean bench

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo --users --if-empty
	$(BIN)/python manage.py analyse --base-url http://$(HOST):$(PORT) \
		|| echo "The paper's plan did not run (see above); the site starts anyway."
	@echo ""
	@echo "ExoTrack demo: http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	@echo "Log in as curator / exotrack-demo  (also: technician, analyst; same password)"
	@echo ""
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles tests/screenshots .pytest_cache
