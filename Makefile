# The two commands of the README: `make demo` (the local demo) and `make test` (the test suite).
# Both set up everything on a fresh Debian machine with Python 3.11: the virtualenv, the package,
# and the system tools the tests run for real (Prometheus, wrk, nginx).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_TOOLS := prometheus promtool wrk nginx

.PHONY: setup system-deps test lint demo crd bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || [ -x /usr/sbin/$$t ] || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system tools:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus wrk nginx-light >/dev/null; \
	fi

setup: $(BIN)/.installed system-deps

test: setup
	$(BIN)/pytest

LINT_PATHS := operator tests $(wildcard benchmarks)

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: setup
	$(BIN)/modelmonitor demo

crd: $(BIN)/.installed
	$(BIN)/modelmonitor crd > crds/modelmonitor.yaml

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
