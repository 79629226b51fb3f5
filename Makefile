# Harvest: `make run` starts everything on the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test lint check demo-62700 benchmark clean

$(PY):
	@bin/make-venv $(VENV) $(PYTHON_VERSION)

$(STAMP): $(PY) requirements.txt requirements-dev.txt constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

# The pages' JS/CSS (htmx, Leaflet), exactly as package-lock.json pins them; served by the app itself.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

run: $(STAMP) $(NODE_STAMP)
	@bin/run

test: $(STAMP) $(NODE_STAMP)
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
