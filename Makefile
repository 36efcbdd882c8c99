# Two commands a newcomer needs: `make demo` and `make test` (`make bench` measures).
# Both create .venv and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=
SOAK_ARGS ?=

.PHONY: demo test test-django42 bench soak lint messages clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The login step against the loopback vendor sandbox; BENCH_ARGS=--no-fail to only report.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# The example site under gunicorn through vendor, Redis and PostgreSQL faults (needs both servers).
SOAK_STAMP := $(VENV)/.installed-soak
$(SOAK_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,soak]"
	touch $(SOAK_STAMP)

soak: $(SOAK_STAMP)
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

# The same suite on Django 4.2 LTS, in a venv of its own (CI runs both).
VENV42 := .venv-django42
$(VENV42)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV42)
	$(VENV42)/bin/python -m pip install --quiet --upgrade pip
	$(VENV42)/bin/python -m pip install --quiet "Django>=4.2,<5.0" -e ".[test]"
	touch $@

test-django42: $(VENV42)/.installed
	$(VENV42)/bin/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	cd example_project && ../$(BIN)/python manage.py demo

# Refresh the nb/sv/id catalogues from the source and compile them (the .mo
# files are committed so sites need no gettext tools). Needs GNU gettext
# (Debian: apt-get install gettext).
LANGUAGES := nb sv id
LINT_STAMP := $(VENV)/.installed-lint
$(LINT_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,lint]"
	touch $(LINT_STAMP)

# ruff (rules in pyproject.toml) over the package and tests; mypy over the package.
lint: $(LINT_STAMP)
	$(BIN)/ruff check django_sms_gateway tests
	$(BIN)/mypy

messages: $(STAMP)
	@command -v msgfmt >/dev/null || { echo "make messages needs GNU gettext (apt-get install gettext)"; exit 1; }
	cd django_sms_gateway && ../$(BIN)/django-admin makemessages --no-obsolete --no-location $(addprefix -l ,$(LANGUAGES))
	cd django_sms_gateway && ../$(BIN)/django-admin compilemessages $(addprefix -l ,$(LANGUAGES))

clean:
	rm -rf $(VENV) $(VENV42) example_project/db.sqlite3 .pytest_cache .hypothesis
