#!/usr/bin/env bash
# The reconciler's memory by global allocator (`make bench-memory`, docs/numbers.md; not in CI).
#
# Builds the reconciler once per allocator with the Dockerfile's profile (`host`), glibc and the
# static musl build the image ships, each with the system allocator, mimalloc and jemalloc, then
# runs crates/cluster-tests/benches/memory.rs over them. SIDECARSET_BENCH_VARIANTS set beforehand
# skips the builds and runs those (NAME=BINARY[,KEY=VALUE...] ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
MUSL="$(uname -m)-unknown-linux-musl"
OUT="${TARGET_DIR}/bench-memory"

hack/cluster/build-apiserver.sh

if [[ -z "${SIDECARSET_BENCH_VARIANTS:-}" ]]; then
  rustup target list --installed | grep -qx "${MUSL}" || rustup target add "${MUSL}"
  command -v musl-gcc >/dev/null || {
    echo "bench-memory: the musl build needs musl-gcc (ring compiles C): apt-get install musl-tools" >&2
    exit 1
  }
  mkdir -p "${OUT}"
  build() { # NAME TARGET FEATURES
    local name="$1" target="$2" features="$3" args=(--locked --profile host -p sidecarset-reconciler --bin sidecarset-reconciler)
    [[ -n "${target}" ]] && args+=(--target "${target}")
    [[ -n "${features}" ]] && args+=(--features "${features}")
    echo "bench-memory: building ${name}" >&2
    cargo build "${args[@]}"
    cp "${TARGET_DIR}/${target:+${target}/}host/sidecarset-reconciler" "${OUT}/${name}"
  }
  build glibc "" ""
  build glibc-mimalloc "" alloc-mimalloc
  build glibc-jemalloc "" alloc-jemalloc
  build musl "${MUSL}" ""
  build musl-mimalloc "${MUSL}" alloc-mimalloc
  build musl-jemalloc "${MUSL}" alloc-jemalloc
  o="$(cd "${OUT}" && pwd)"
  # glibc's per-thread arenas (8 per core) are one suspect for memory not given back: also with 2.
  SIDECARSET_BENCH_VARIANTS="glibc=${o}/glibc glibc-arena2=${o}/glibc,MALLOC_ARENA_MAX=2 glibc-mimalloc=${o}/glibc-mimalloc glibc-jemalloc=${o}/glibc-jemalloc musl=${o}/musl musl-mimalloc=${o}/musl-mimalloc musl-jemalloc=${o}/musl-jemalloc"
  export SIDECARSET_BENCH_VARIANTS
fi

exec cargo bench --locked -p sidecarset-cluster-tests --features cluster --bench memory
