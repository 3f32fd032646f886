#!/usr/bin/env bash
# Everything `make test` needs beyond Rust and Go, on a fresh Debian machine: the wasm32-wasip1 target,
# rustfmt and clippy (rustup), then from Debian's packages jq and bats (e2e.bats), docker-registry
# (tests/publish.rs), faketime (a reconciler replica with a skewed clock in the cluster tests),
# shellcheck (actionlint runs it on the workflows' scripts: make workflow-lint), and
# what the cluster tests' scripts need (hack/cluster/install-deps.sh: openssl,
# curl, flock, ps; it also checks Go, which the cluster build and the Kruise harness need).
# Idempotent: installs only what is missing, with apt-get as root or through sudo; without either it
# stops and names the packages to install. `make test` runs it first; so does CI through `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v rustup >/dev/null 2>&1 || {
  echo "install-deps: rustup not found: install Rust with rustup (https://rustup.rs)" >&2
  exit 1
}
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

exec hack/cluster/install-deps.sh jq bats docker-registry faketime shellcheck
