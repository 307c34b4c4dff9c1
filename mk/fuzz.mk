# Fuzzing (included from the Makefile; uses its CARGO). The targets are in fuzz/ (a crate of
# its own, outside the workspace); cargo-fuzz and libFuzzer need the nightly toolchain, and
# `fuzz-tools` installs what is missing.
#
#   make fuzz                                   every target, FUZZ_SECONDS (60) each
#   make fuzz FUZZ_TARGETS=token FUZZ_SECONDS=600
#   make fuzz-smoke                             every target, FUZZ_SMOKE_SECONDS (4) each: part of make test
#
# New inputs go to target/fuzz/corpus/<target>/ (the checked-in seeds in fuzz/corpus/ are only
# read); a finding is written to fuzz/artifacts/<target>/ and fails the run. fuzz/README.md
# says how a finding becomes a regression test.

FUZZ_TARGETS ?= token jwks discovery config policy request
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_SANITIZER ?= address
FUZZ_WORK := target/fuzz
# Longest input tried: tokens are bounded at 16 KiB; configurations with inline keys run larger.
FUZZ_MAX_LEN := 32768
FUZZ := $(CARGO) +nightly fuzz

.PHONY: fuzz fuzz-smoke fuzz-tools

fuzz-tools:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

# $(1): seconds per target. Prints libFuzzer's final line per target (runs, seconds).
define fuzz_each
	$(FUZZ) build --sanitizer $(FUZZ_SANITIZER)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/corpus/$$t; \
	  $(FUZZ) run --sanitizer $(FUZZ_SANITIZER) $$t $(FUZZ_WORK)/corpus/$$t fuzz/corpus/$$t -- \
	    -max_total_time=$(1) -max_len=$(FUZZ_MAX_LEN) -timeout=10 -print_final_stats=1 \
	    > $(FUZZ_WORK)/$$t.log 2>&1 || { tail -n 40 $(FUZZ_WORK)/$$t.log; exit 1; }; \
	  printf '  %-10s %s\n' $$t "$$(grep -m1 '^Done ' $(FUZZ_WORK)/$$t.log)"; \
	done
endef

fuzz: fuzz-tools ## Fuzz every target for FUZZ_SECONDS (60) each (nightly, cargo-fuzz)
	$(call fuzz_each,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-tools ## A few seconds of fuzzing per target (part of make test)
	$(call fuzz_each,$(FUZZ_SMOKE_SECONDS))
