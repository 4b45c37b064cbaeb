# tritonize: every target creates .venv/ and installs the project first (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPOSITORY ?= model_repository

.PHONY: setup system-deps demo export test test-unit lint clean
.PHONY: cluster-deps cluster-demo

# Everything (export, server, bench, deploy, test tools) at the versions constraints.txt pins; a client-only
# install is `pip install -c constraints.txt .` (see pyproject.toml's extras).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# perf_analyzer (inside the tritonclient wheel) links libb64 from Debian.
system-deps:
	@ldconfig -p | grep -q 'libb64.so.0d' || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libb64-0d >/dev/null; \
	  else echo "note: install libb64-0d (sudo apt-get install -y libb64-0d) for perf_analyzer"; fi; }

setup: system-deps $(STAMP)

# Scale-out (deploy/): helm v4 from its PyPI package; HAProxy and Prometheus from Debian for the local cluster
# (the tools run them from temporary folders: the system services the packages bring are disabled).
HELM := $(BIN)/helm
$(HELM): | $(STAMP)
	$(BIN)/python -m deploy.install_helm --into $(BIN)
setup: $(HELM)

system-deps: cluster-deps
cluster-deps:
	@{ command -v haproxy || test -x /usr/sbin/haproxy; } >/dev/null && command -v prometheus >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends haproxy prometheus >/dev/null \
	    && if [ -d /run/systemd/system ]; then systemctl disable --now -q haproxy prometheus || true; fi; \
	  else echo "note: install haproxy and prometheus (sudo apt-get install -y haproxy prometheus) for deploy/"; fi; }

DEMO_MODEL ?= all_minilm_l6_v2
DEMO_PORT  ?= 8000

# Export the bundled all-MiniLM-L6-v2 (both formats, verified; --force replaces the newest version, so a rerun
# serves what it exported), serve it with the local Triton, query it.
demo: setup
	$(BIN)/python -m export --repository $(REPOSITORY) --name $(DEMO_MODEL) --format onnx --format torchscript \
	  --instance-kind cpu --force
	scripts/demo.sh $(REPOSITORY) $(DEMO_MODEL) $(DEMO_PORT)

CLUSTER_REPOSITORY ?= cluster_repository

# Two replicas of the bundled all-MiniLM-L6-v2 behind HAProxy, scraped by Prometheus: load, a killed replica and
# a rolling update, with the Helm chart's autoscaling query; prints a table and stops everything it started.
cluster-demo: setup
	$(BIN)/python -m export --repository $(CLUSTER_REPOSITORY) --name $(DEMO_MODEL) --format onnx \
	  --instance-kind cpu --version 1 --force
	$(BIN)/python -m deploy cluster-demo --repository $(CLUSTER_REPOSITORY) --model $(DEMO_MODEL)

# Every tier (tests/unit, tests/integration, tests/e2e); `make test-unit` is the inner loop (no server, no export).
test: setup
	$(BIN)/python -m pytest

test-unit: setup
	$(BIN)/python -m pytest tests/unit

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) bench-results .pytest_cache .ruff_cache
include docker/Makefile.fragment
