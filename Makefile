# Two commands a newcomer needs: `make demo` and `make test` (`make bench` measures).
# Both create .venv and install what they need. `make lint`, `make docs` and
# `make matrix` (every supported Python x Django, the package build) are what CI adds.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=
SOAK_ARGS ?=

.PHONY: demo test bench bench-peers soak pumping lint docs matrix messages clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The vendor sandbox (the test extra needs it) is not on an index: every install takes it from ./sandbox.
$(STAMP): pyproject.toml sandbox/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ./sandbox -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The login step against the loopback vendor sandbox; BENCH_ARGS=--no-fail to only report.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Our login step beside django-two-factor-auth's and django-otp-twilio's (benchmarks/peers.py), in
# .venv-peers so that the peers never enter the project's own venv; PEERS_ARGS=--no-fail to only report.
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
PEERS_ARGS ?=
$(PEERS_STAMP): pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -e ./sandbox -e ".[peers]" "Django>=5.2,<6.0"
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)
	$(PEERS_VENV)/bin/python -m benchmarks.peers $(PEERS_ARGS)

# The example site under gunicorn through vendor, Redis and PostgreSQL faults (needs both servers).
SOAK_STAMP := $(VENV)/.installed-soak
$(SOAK_STAMP): pyproject.toml sandbox/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ./sandbox -e ".[test,soak]"
	touch $(SOAK_STAMP)

soak: $(SOAK_STAMP)
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

# An SMS pumping attack against the fraud guard on a simulated clock (Redis when REDIS_URL is set).
PUMPING_ARGS ?=
pumping: $(STAMP)
	$(BIN)/python -m benchmarks.pumping $(PUMPING_ARGS)

demo: $(STAMP)
	cd example_project && ../$(BIN)/python manage.py demo

LINT_STAMP := $(VENV)/.installed-lint
$(LINT_STAMP): pyproject.toml sandbox/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ./sandbox -e ".[test,lint]"
	touch $(LINT_STAMP)

# ruff (rules in pyproject.toml) over the package, tests, benchmarks, docs, the sandbox and noxfile;
# mypy over the package and the sandbox.
lint: $(LINT_STAMP)
	$(BIN)/ruff check django_sms_gateway tests benchmarks docs sandbox noxfile.py
	$(BIN)/mypy

# The Sphinx site in docs/ (MyST Markdown); any warning fails the build.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): pyproject.toml sandbox/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ./sandbox -e ".[test,docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# noxfile.py's sessions (NOX_ARGS='-s wheel' for one; NOX_ARGS=-l lists them). The
# interpreters come from pyenv: each python3.X links to the newest 3.X.* there.
PYENV_ROOT ?= $(HOME)/.pyenv
NOX_ARGS ?=
NOX_PYTHONS := .nox/pythons
CI_STAMP := $(VENV)/.installed-ci
$(CI_STAMP): pyproject.toml sandbox/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ./sandbox -e ".[test,ci]"
	touch $(CI_STAMP)

matrix: $(CI_STAMP)
	@mkdir -p $(NOX_PYTHONS)
	@for v in 3.11 3.12 3.13; do \
	  p=$$(ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -n 1); \
	  if [ -n "$$p" ]; then ln -sfn "$$p" $(NOX_PYTHONS)/python$$v; fi; \
	done
	PATH="$(CURDIR)/$(NOX_PYTHONS):$(CURDIR)/$(BIN):$$PATH" $(BIN)/nox $(NOX_ARGS)

# Refresh the nb/sv/id catalogues from the source and compile them (the .mo
# files are committed so sites need no gettext tools). Needs GNU gettext
# (Debian: apt-get install gettext).
LANGUAGES := nb sv id
messages: $(STAMP)
	@command -v msgfmt >/dev/null || { echo "make messages needs GNU gettext (apt-get install gettext)"; exit 1; }
	cd django_sms_gateway && ../$(BIN)/django-admin makemessages --no-obsolete --no-location $(addprefix -l ,$(LANGUAGES))
	cd django_sms_gateway && ../$(BIN)/django-admin compilemessages $(addprefix -l ,$(LANGUAGES))

clean:
	rm -rf $(VENV) $(PEERS_VENV) .nox dist build sandbox/build docs/_build example_project/db.sqlite3 .pytest_cache .hypothesis
