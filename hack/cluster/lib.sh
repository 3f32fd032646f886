# shellcheck shell=bash
# Shared helpers for hack/cluster/*.sh. Source it; do not run it.

CLUSTER_HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APISERVER_MODULE_DIR="${CLUSTER_HACK_DIR}/apiserver-build"
SIDECARSET_CACHE="${SIDECARSET_CACHE:-${HOME}/.cache/sidecarset}"
CLUSTER_BIN_DIR="${SIDECARSET_CACHE}/bin"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# need CMD WHAT-TO-INSTALL
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2 (or run hack/cluster/install-deps.sh)"
}

# The Kubernetes version pinned in apiserver-build/go.mod (e.g. v1.36.5).
kube_version() {
  local v
  v="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3} $1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' \
    "${APISERVER_MODULE_DIR}/go.mod" | head -n1)"
  [[ -n "${v}" ]] || die "cannot find the k8s.io/kubernetes requirement in ${APISERVER_MODULE_DIR}/go.mod"
  printf '%s\n' "${v}"
}

# The etcd server version kube-apiserver's own module graph resolves
# (go.etcd.io/etcd/server/v3 in apiserver-build/go.mod, e.g. v3.6.8).
etcd_version() {
  local v
  v="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2}' "${APISERVER_MODULE_DIR}/go.mod" | head -n1)"
  [[ -n "${v}" ]] || die "cannot find go.etcd.io/etcd/server/v3 in ${APISERVER_MODULE_DIR}/go.mod"
  printf '%s\n' "${v}"
}

apiserver_bin() { printf '%s/kube-apiserver-%s\n' "${CLUSTER_BIN_DIR}" "$(kube_version)"; }
etcd_bin() { printf '%s/etcd-%s\n' "${CLUSTER_BIN_DIR}" "$(etcd_version)"; }
kubectl_bin() { printf '%s/kubectl-%s\n' "${CLUSTER_BIN_DIR}" "$(kube_version)"; }

# cluster_pid_alive DIR PID: PID runs (not a zombie waiting to be reaped) and its
# command line still names DIR, so a recycled PID is never signalled.
cluster_pid_alive() {
  local dir="$1" pid="$2" state cmdline
  [[ -n "${pid}" && -r "/proc/${pid}/stat" ]] || return 1
  state="$(sed 's/^.*) //' "/proc/${pid}/stat" | cut -d' ' -f1)" || return 1
  [[ "${state}" != Z && "${state}" != X ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" || return 1
  [[ "${cmdline}" == *"${dir}/"* || "${cmdline}" == *" ${dir} "* ]]
}

# pid_exited PID: PID is gone or a zombie. Not cluster_pid_alive's test: a dying process's command
# line reads empty once its memory is released, which comes before its files (its listening socket)
# are closed, so "no longer names DIR" is not yet "port free".
pid_exited() {
  local state
  [[ -r "/proc/$1/stat" ]] || return 0
  state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 0
  [[ -z "${state}" || "${state}" == Z || "${state}" == X ]]
}

# cluster_pid DIR NAME: the PID that DIR/pids lists for NAME (etcd, kube-apiserver, watchdog).
cluster_pid() {
  awk -v n="$2" '$2 == n {print $1; exit}' "$1/pids" 2>/dev/null
}
