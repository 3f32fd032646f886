# Kubewarden's policy Makefile targets, plus `example` (the README's quick start).
SOURCE_FILES := $(shell find src crates/core/src -type f -name '*.rs') Cargo.toml Cargo.lock crates/core/Cargo.toml
KWCTL ?= $(shell command -v kwctl 2>/dev/null)
CARGO_TARGET_DIR ?= target
KWHOST := $(CARGO_TARGET_DIR)/host/kwhost
# `make push OCI_REPO=<registry>/<path>:<tag> [SOURCES_PATH=sources.yaml]`
OCI_REPO ?=
SOURCES_PATH ?=

.PHONY: all deps tools fmt lint test chart-test workflow-lint monitoring-test e2e-tests cluster-test bench bench-cluster bench-memory example push oci-repo-given clean wasm-target

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

# Publish the annotated module as an OCI artifact with kwctl, or with the test host's push (same
# layout) where kwctl is missing. SOURCES_PATH is kwctl's sources.yaml, e.g. for a local
# registry without TLS: `insecure_sources: ["127.0.0.1:5000"]`.
push: oci-repo-given annotated-policy.wasm
	@if [ -n "$(KWCTL)" ] && [ "$$(basename $(KWCTL))" = kwctl ]; then \
		$(KWCTL) push $(if $(SOURCES_PATH),--sources-path $(SOURCES_PATH)) annotated-policy.wasm $(OCI_REPO); \
	else \
		cargo build --locked --profile host -p kwhost && $(KWHOST) push $(if $(SOURCES_PATH),--sources-path $(SOURCES_PATH)) annotated-policy.wasm $(OCI_REPO); \
	fi

oci-repo-given:
	@[ -n "$(OCI_REPO)" ] || { echo "make push needs OCI_REPO=<registry>/<path>:<tag>, e.g. OCI_REPO=ghcr.io/<owner>/policies/sidecarset:v$$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)" >&2; exit 2; }

# What the tests need beyond Rust and Go (rustup target and components, Debian packages): installed if
# missing, apt-get as root or through sudo (hack/install-deps.sh says what to install otherwise).
deps:
	hack/install-deps.sh

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --locked --workspace --all-targets -- -D warnings

# helm, promtool and actionlint, built from the Go module proxy at the versions hack/tools/*/go.mod
# pin (cached in ~/.cache/sidecarset/bin; a few minutes cold on 2 cores).
tools:
	hack/tools/build-tools.sh

# The README's test command: formatting, lints, every test of the workspace (tests/artifact.rs
# builds the release policy.wasm itself, with the same cargo command as below; tests/chart.rs runs
# helm), the chart, workflow and monitoring checks, e2e.bats, then the reconciler against a real
# kube-apiserver.
test: deps tools fmt lint
	cargo test --locked --workspace
	$(MAKE) chart-test workflow-lint monitoring-test
	$(MAKE) e2e-tests
	$(MAKE) cluster-test

# The chart: helm lint on the default and the full values (helm template's golden files are
# tests/chart.rs, in `cargo test`).
chart-test: tools
	hack/check-chart.sh

# actionlint (with shellcheck) over every workflow in .github/workflows.
workflow-lint: tools
	hack/check-workflows.sh

# promtool check rules and promtool test rules (the alerts' unit tests) on the PrometheusRule's
# rules, and the dashboard's JSON checks.
monitoring-test: tools
	hack/check-monitoring.sh

# The reconciler's cluster tests: kube-apiserver and etcd built from the Go module proxy (cached in
# ~/.cache/sidecarset/bin; about 8 minutes cold on 2 cores), started on 127.0.0.1 by the tests.
cluster-test:
	hack/cluster/build-apiserver.sh
	cargo test --locked -p sidecarset-cluster-tests --features cluster

# Criterion benchmarks (docs/numbers.md): the wasm ones need both modules built first.
bench: | wasm-target
	cargo build --locked --target=wasm32-wasip1 --release -p sidecarset-policy -p noop-policy -p noop-mutator
	cargo bench --locked --workspace

# The reconciler at fleet scale (docs/numbers.md), not part of `make test` or CI: 10,000 injected
# Pods on the test kube-apiserver, a settings change rolled out under maxUnavailable 20%, a report
# of memory, latency, progress and API requests. The reconciler is the image's build (static musl,
# the Dockerfile's `host` profile: hack/build-reconciler.sh), not a debug build. SIDECARSET_BENCH_PODS
# (default 10000) and SIDECARSET_BENCH_RECONCILER_ARGS (extra `run` flags, e.g. a write budget)
# change the run.
bench-cluster:
	hack/cluster/build-apiserver.sh
	SIDECARSET_RECONCILER_BIN="$$(hack/build-reconciler.sh)" \
		cargo bench --locked -p sidecarset-cluster-tests --features cluster --bench cluster

# The reconciler's memory by global allocator (docs/numbers.md), not part of `make test` or CI:
# the reconciler built with glibc and musl, each with the system allocator, mimalloc and jemalloc,
# started over 0, 500, 5,000+1,000 and 10,000+1,000 Pods, then one rollout each (hack/bench-memory.sh).
bench-memory:
	hack/bench-memory.sh

# e2e.bats with kwctl, or with the test host (built here) where kwctl is missing.
e2e-tests: annotated-policy.wasm
	@for tool in bats jq; do command -v $$tool >/dev/null || { echo "make e2e-tests needs $$tool: apt-get install bats jq" >&2; exit 1; }; done
	$(if $(KWCTL),,cargo build --locked --profile host -p kwhost)
	KWCTL="$(if $(KWCTL),$(KWCTL),$(abspath $(KWHOST)))" bats e2e.bats

# Quick start: the Filebeat story through kwctl (or the test host), response and injected Pod.
example: policy.wasm
	@scripts/example.sh

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm
