# Harvest: `make run` starts everything on the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint check demo-62700 benchmark clean

$(PY):
	@bin/make-venv $(VENV) $(PYTHON_VERSION)

$(STAMP): $(PY) requirements.txt requirements-dev.txt constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

run: $(STAMP)
	@bin/run

test: $(STAMP)
	@bin/test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run

demo-62700: $(STAMP)
	$(PY) manage.py seed_demo --installations 62700 --reset

benchmark: $(STAMP)
	$(PY) benchmarks/seed_demo.py

clean:
	rm -rf var staticfiles
