#!/usr/bin/env bash
# Builds the reconciler as the image ships it (crates/reconciler/Dockerfile): the static musl build,
# the `host` profile, musl's own allocator (docs/numbers.md, memory: the measured choice), and
# prints the binary's path. `make bench-cluster` measures this binary.
#
#   hack/build-reconciler.sh [extra cargo build flags, e.g. --features alloc-jemalloc]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET="$(uname -m)-unknown-linux-musl"
rustup target list --installed | grep -qx "${TARGET}" || rustup target add "${TARGET}" >&2
command -v musl-gcc >/dev/null || {
  echo "build-reconciler: the musl build needs musl-gcc (ring compiles C): apt-get install musl-tools" >&2
  exit 1
}
cargo build --locked --profile host --target "${TARGET}" -p sidecarset-reconciler --bin sidecarset-reconciler "$@" >&2
printf '%s\n' "$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/${TARGET}/host/sidecarset-reconciler"
