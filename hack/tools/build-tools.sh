#!/usr/bin/env bash
# Build the chart, rules and workflow checkers that `make test` runs from the Go module proxy into
# ${SIDECARSET_CACHE:-$HOME/.cache/sidecarset}/bin, skipping what is cached (as
# hack/cluster/build-apiserver.sh does for kube-apiserver):
#   helm        helm.sh/helm/v4                      (helm/go.mod)
#   promtool    github.com/prometheus/prometheus     (promtool/go.mod)
#   actionlint  github.com/rhysd/actionlint          (actionlint/go.mod)
#
#   hack/tools/build-tools.sh            build what is missing, print nothing else on stdout
#   hack/tools/build-tools.sh --print    print "name path" per tool, build nothing
#
# Each tool has its own wrapper module (go.mod + go.sum committed, checksums verified on every build)
# so that one tool's dependencies never move another's. The cached binary's name carries the
# version, so bumping go.mod builds the new one beside the old.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SIDECARSET_CACHE="${SIDECARSET_CACHE:-${HOME}/.cache/sidecarset}"
BIN_DIR="${SIDECARSET_CACHE}/bin"

log() { printf '[build-tools.sh] %s\n' "$*" >&2; }
die() {
  printf '[build-tools.sh] error: %s\n' "$*" >&2
  exit 1
}

export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

# name module package: one row per tool.
TOOLS=(
  "helm helm.sh/helm/v4 helm.sh/helm/v4/cmd/helm"
  "promtool github.com/prometheus/prometheus github.com/prometheus/prometheus/cmd/promtool"
  "actionlint github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint"
)

# version NAME MODULE: the version NAME/go.mod requires.
version() {
  local v
  v="$(awk -v m="$2" '($1 == m && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "${TOOLS_DIR}/$1/go.mod")"
  [[ -n "${v}" ]] || die "cannot find $2 in ${TOOLS_DIR}/$1/go.mod"
  printf '%s\n' "${v}"
}

bin_path() { printf '%s/%s-%s\n' "${BIN_DIR}" "$1" "$(version "$1" "$2")"; }

# ldflags NAME VERSION: the version stamps each project's own release build sets, so that
# `helm version` and `promtool --version` say what they are.
ldflags() {
  case "$1" in
    helm) printf -- '-X helm.sh/helm/v4/internal/version.version=%s' "$2" ;;
    promtool) printf -- '-X github.com/prometheus/common/version.Version=%s' "${2#v0.}" ;;
    actionlint) printf -- '-X github.com/rhysd/actionlint.version=%s' "$2" ;;
  esac
}

if [[ "${1:-}" == --print ]]; then
  for row in "${TOOLS[@]}"; do
    read -r name module _ <<<"${row}"
    printf '%s %s\n' "${name}" "$(bin_path "${name}" "${module}")"
  done
  exit 0
fi
[[ $# -eq 0 ]] || die "unknown argument '$1' (usage: build-tools.sh [--print])"

command -v go >/dev/null 2>&1 || die "'go' not found: install Go >= 1.26 (the polyglot machine ships it in /usr/local/go)"
mkdir -p "${BIN_DIR}"
# One build at a time per cache: two test runs starting together would both compile everything.
exec 9>"${BIN_DIR}/.tools.lock"
command -v flock >/dev/null 2>&1 && flock 9

for row in "${TOOLS[@]}"; do
  read -r name module pkg <<<"${row}"
  out="$(bin_path "${name}" "${module}")"
  if [[ -x "${out}" ]]; then
    continue
  fi
  v="$(version "${name}" "${module}")"
  tmp="$(mktemp "${out}.tmp.XXXXXX")"
  start=${SECONDS}
  log "building ${pkg}@${v} -> ${out}"
  if ! (cd "${TOOLS_DIR}/${name}" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w $(ldflags "${name}" "${v}")" -o "${tmp}" "${pkg}"); then
    rm -f "${tmp}"
    die "go build ${pkg} failed (see above)"
  fi
  chmod 0755 "${tmp}"
  mv -f "${tmp}" "${out}"
  log "built ${out} in $((SECONDS - start))s"
done
