# Everything a fresh machine with python3 and make needs: the venv is built from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8081
# Browser tests drive Debian's chromium: a test tool's own browser download cannot be reached here.
CHROMIUM := /usr/bin/chromium
# The deploy/k8s checks render the manifests with `kubectl kustomize`: the kubectl on PATH, else Debian's
# (kubernetes-client 1.20, whose kustomize v2.0.3 reads every field the manifests use).
KUBECTL := $(or $(shell command -v kubectl 2>/dev/null),/usr/bin/kubectl)
# `methodflow watch` is tested once in a real terminal: tmux runs it and capture-pane reads the screen.
TMUX := /usr/bin/tmux

.PHONY: install run test soak check lint typecheck format bench compare-reference docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Debian's chromium is missing and cannot be installed here (needs root and apt-get):" \
			"the browser tests will fail"; \
	fi

$(KUBECTL):
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's kubernetes-client (kubectl) for the deploy/k8s tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null; \
	else \
		echo "kubectl is missing and cannot be installed here (needs root and apt-get):" \
			"the deploy/k8s tests will fail"; \
	fi

$(TMUX):
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's tmux for the terminal test of methodflow watch"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; \
	else \
		echo "tmux is missing and cannot be installed here (needs root and apt-get):" \
			"the terminal test of methodflow watch will fail"; \
	fi

run: $(STAMP)
	$(BIN)/methodflow dev --port $(PORT)

# Two pytest processes, a file at a time each (`--dist loadfile`), each with its own Temporal dev server
# and moto: most tests wait on Temporal, processes and sockets, so two share the 2 CPUs well
# (2026-12-03: 520 s instead of 860 s for the same 1,468 tests).
test: $(STAMP) $(CHROMIUM) $(KUBECTL) $(TMUX)
	$(BIN)/python -m pytest -q --durations=30 -n 2 --dist loadfile

# What `make test` leaves out for time (tests marked soak, minutes each): the 20,000-item batch and
# the 30-minute mixed-traffic soak (RSS and open fds of the API and a worker stay flat).
soak: $(STAMP)
	$(BIN)/python -m pytest -q --soak -m soak

lint: $(STAMP)
	$(BIN)/ruff format --check api worker shared tests bench client docs/gen
	$(BIN)/ruff check api worker shared tests bench client docs/gen

typecheck: $(STAMP)
	$(BIN)/pyright

check: lint typecheck test

format: $(STAMP)
	$(BIN)/ruff format api worker shared tests bench client docs/gen
	$(BIN)/ruff check --fix api worker shared tests bench client docs/gen

# The reference server: pipelex-api 0.92.2 in .cache/reference-venv, installed on first use (its own
# environment, never a dependency of ours).
REFERENCE := .cache/reference-venv/bin/uvicorn

$(REFERENCE):
	$(PYTHON) -m venv .cache/reference-venv && .cache/reference-venv/bin/pip install --quiet pipelex-api==0.92.2

# Every benchmark of the earlier issues, then the report beside the reference (bench/report.py: one table,
# bench/results/) and docs/benchmarks.md from its JSON. `make bench BENCH_QUICK=1`: the smoke sizes.
BENCH_QUICK ?=
QUICK_FLAG := $(if $(BENCH_QUICK),--quick)
bench: $(STAMP) $(REFERENCE)
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/interpret.py
	$(BIN)/python bench/runs.py $(QUICK_FLAG)
	$(BIN)/python bench/callbacks.py $(QUICK_FLAG)
	$(BIN)/python bench/batch.py $(QUICK_FLAG)
	$(BIN)/python bench/pools.py $(QUICK_FLAG)
	$(BIN)/python bench/resume.py $(QUICK_FLAG)
	$(BIN)/python bench/tooling.py
	$(BIN)/python bench/report.py $(QUICK_FLAG)
	$(BIN)/python bench/report_page.py

compare-reference: $(STAMP) $(REFERENCE)
	$(BIN)/python bench/compare_reference.py
	$(BIN)/python bench/tooling.py
	$(BIN)/python bench/tooling_agreement.py

# The operator docs (mkdocs.yml, docs/): strict, so a broken link or a missing page fails the build.
# The configuration and troubleshooting pages are written at build time from the code (docs/gen/).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) .cache .pytest_cache
