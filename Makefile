# edgevision: the two commands a new machine needs are `make quickstart` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
PYTEST_ARGS ?=

.PHONY: install install-dev quickstart test test-slow test-all lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) -e .
	touch $@

# dev = the test tools plus the light optional extras whose tests should run everywhere (OpenVINO + NNCF, dlib)
$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) -e ".[dev,openvino,teachers]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

quickstart: install  ## train → eval → profile → report on the embedded synthetic dataset
	$(VENV)/bin/edgevision quickstart --out runs/quickstart

test: install-dev  ## lint + the fast test suite (what CI runs)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: install-dev  ## the slow tests (browser, long trainings); data tests skip without ../shared
	$(PY) -m pytest -q -m "slow" $(PYTEST_ARGS)

test-all: install-dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
