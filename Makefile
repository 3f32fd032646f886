# Kubewarden's policy Makefile targets, plus `example` (the README's quick start).
SOURCE_FILES := $(shell find src crates/core/src -type f -name '*.rs') Cargo.toml Cargo.lock crates/core/Cargo.toml
KWCTL ?= $(shell command -v kwctl 2>/dev/null)
KWHOST := $(CARGO_TARGET_DIR)/host/kwhost
CARGO_TARGET_DIR ?= target

.PHONY: all fmt lint test e2e-tests example clean wasm-target

all: policy.wasm

wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

policy.wasm: $(SOURCE_FILES) | wasm-target
	cargo build --locked --target=wasm32-wasip1 --release -p sidecarset-policy
	cp $(CARGO_TARGET_DIR)/wasm32-wasip1/release/sidecarset_policy.wasm policy.wasm

# kwctl writes the metadata into the module; without kwctl, the test host does the same.
annotated-policy.wasm: policy.wasm metadata.yml README.md
	@if [ -n "$(KWCTL)" ] && [ "$$(basename $(KWCTL))" = kwctl ]; then \
		$(KWCTL) annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm; \
	else \
		cargo build --locked --profile host -p kwhost && $(KWHOST) annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm; \
	fi

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --locked --workspace --all-targets -- -D warnings

# The README's test command: formatting, lints, every test of the workspace, and the release wasm.
test: fmt lint
	cargo test --locked --workspace
	$(MAKE) policy.wasm

e2e-tests: annotated-policy.wasm
	KWCTL="$(if $(KWCTL),$(KWCTL),$(abspath $(KWHOST)))" bats e2e.bats

# Quick start: the Filebeat story through kwctl (or the test host), response and injected Pod.
example: policy.wasm
	@scripts/example.sh

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm
