#!/usr/bin/env bash
# Build the Kruise harness (main.go: OpenKruise v1.9.1's own webhooks, in-process) into
# ${SIDECARSET_CACHE:-$HOME/.cache/sidecarset}/bin/kruise-harness-<hash>, where <hash> covers
# go.mod, go.sum and every *.go file here, and print the binary's path on stdout. A binary that
# is already there is reused; an edit of the sources builds a new one. Needs Go (>= 1.23) and the
# Go module proxy; the first build takes about 4 minutes on 2 cores.
#
#   hack/kruise-harness/build.sh           build if missing, print the path
#   hack/kruise-harness/build.sh --print   print the path, build nothing
set -euo pipefail

HARNESS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SIDECARSET_CACHE="${SIDECARSET_CACHE:-${HOME}/.cache/sidecarset}"
BIN_DIR="${SIDECARSET_CACHE}/bin"

log() { printf '[kruise-harness/build.sh] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

print_only=0
case "${1:-}" in
  "") ;;
  --print) print_only=1 ;;
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

command -v go >/dev/null 2>&1 ||
  die "'go' not found: the Kruise parity test runs OpenKruise's Go code; install Go >= 1.23 (https://go.dev/dl/)"

# The sources, in a fixed order, hashed with their names.
hash="$(cd "${HARNESS_DIR}" &&
  LC_ALL=C ls go.mod go.sum ./*.go | while read -r f; do
    printf '%s\n' "${f}"
    cat "${f}"
  done | sha256sum | cut -c1-16)"
out="${BIN_DIR}/kruise-harness-${hash}"

if [[ "${print_only}" -eq 1 || -x "${out}" ]]; then
  printf '%s\n' "${out}"
  exit 0
fi

mkdir -p "${BIN_DIR}"
# One build at a time per cache: two test runs starting together would otherwise both compile.
exec 9>"${BIN_DIR}/.kruise-harness.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if [[ ! -x "${out}" ]]; then
  tmp="$(mktemp "${out}.tmp.XXXXXX")"
  start=${SECONDS}
  log "building ${out} (the first build downloads and compiles Kruise and Kubernetes: minutes)"
  # Not part of any go.work of the caller; go.sum is committed, nothing may change it.
  if ! (cd "${HARNESS_DIR}" && GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly" \
    go build -trimpath -ldflags="-s -w" -o "${tmp}" .); then
    rm -f "${tmp}"
    die "go build failed (see above)"
  fi
  chmod 0755 "${tmp}"
  mv -f "${tmp}" "${out}"
  log "built in $((SECONDS - start))s"
fi
printf '%s\n' "${out}"
