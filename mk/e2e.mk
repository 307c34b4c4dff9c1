# End-to-end test and demo targets (included from the Makefile; uses its CARGO, WASM_TARGET,
# ENVOY and the build/envoy/toolchain targets).

E2E_PROBE_TARGET_DIR := target/e2e-probe

.PHONY: run e2e e2e-probe

run: ## Demo on 127.0.0.1:10000: dev issuer, echo upstream, Envoy + claimcheck (Ctrl-C stops)
	scripts/run-demo.sh

e2e-probe: toolchain ## Build the callout probe wasm the end-to-end tests use (seconds)
	CARGO_TARGET_DIR=$(E2E_PROBE_TARGET_DIR) $(CARGO) build --release --quiet \
	  --target $(WASM_TARGET) --manifest-path tests/e2e/probe/Cargo.toml

# Most e2e tests wait on Envoy or the test IdP rather than compute, so more threads than cores.
# The CLI is built too: the suite checks that `claimcheck explain` reproduces Envoy's refusals.
e2e: build envoy e2e-probe ## End-to-end tests: real Envoy + claimcheck.wasm + test IdP (~1 min)
	$(CARGO) build --quiet -p claimcheck-cli
	$(CARGO) test -p claimcheck-e2e -- --test-threads=4
