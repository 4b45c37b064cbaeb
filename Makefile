# tritonize: every target creates .venv/ and installs the project first (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPOSITORY ?= model_repository

.PHONY: setup system-deps demo export test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# perf_analyzer (inside the tritonclient wheel) links libb64 from Debian.
system-deps:
	@ldconfig -p | grep -q 'libb64.so.0d' || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libb64-0d >/dev/null; \
	  else echo "note: install libb64-0d (sudo apt-get install -y libb64-0d) for perf_analyzer"; fi; }

setup: system-deps $(STAMP)

DEMO_MODEL ?= all_minilm_l6_v2
DEMO_PORT  ?= 8000

# Export the bundled all-MiniLM-L6-v2 (both formats, verified; --force replaces the newest version, so a rerun
# serves what it exported), serve it with the local Triton, query it.
demo: setup
	$(BIN)/python -m export --repository $(REPOSITORY) --name $(DEMO_MODEL) --format onnx --format torchscript \
	  --instance-kind cpu --force
	scripts/demo.sh $(REPOSITORY) $(DEMO_MODEL) $(DEMO_PORT)

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) bench-results .pytest_cache .ruff_cache
include docker/Makefile.fragment
