#!/usr/bin/env bash
# Stop a cluster started by hack/cluster/start.sh DIR and remove DIR.
#
#   hack/cluster/stop.sh DIR              TERM, then KILL after a few seconds; rm -rf DIR
#   hack/cluster/stop.sh --keep-dir DIR   same, but keep DIR (logs, certs, etcd data)
#
# Only the PIDs listed in DIR/pids are signalled, and only while their command
# line still names DIR (so a recycled PID is never hit). Idempotent: a missing
# DIR or already-dead processes are fine.
# SIDECARSET_STOP_TIMEOUT: seconds between TERM and KILL, per process (default 10).
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

keep_dir=0
while [[ $# -gt 1 ]]; do
  case "$1" in
    --keep-dir) keep_dir=1 ;;
    --from-watchdog) ;; # started by start.sh's watchdog: nothing special but the log line
    *) die "usage: $0 [--keep-dir] DIR" ;;
  esac
  shift
done
[[ $# -eq 1 && -n "$1" ]] || die "usage: $0 [--keep-dir] DIR"

if [[ ! -d "$1" ]]; then
  log "$1 does not exist: nothing to stop"
  exit 0
fi
DIR="$(cd "$1" && pwd)"
if [[ ! -f "${DIR}/.sidecarset-cluster" ]]; then
  if [[ -z "$(ls -A "${DIR}")" ]]; then
    [[ "${keep_dir}" -eq 1 ]] || rmdir "${DIR}"
    exit 0
  fi
  die "${DIR} was not made by hack/cluster/start.sh (no .sidecarset-cluster marker): not touching it"
fi
TIMEOUT="${SIDECARSET_STOP_TIMEOUT:-10}"

# alive PID: running (not a zombie waiting to be reaped) and still ours.
alive() {
  local pid="$1" state cmdline
  [[ -r "/proc/${pid}/stat" ]] || return 1
  state="$(sed 's/^.*) //' "/proc/${pid}/stat" | cut -d' ' -f1)" || return 1
  [[ "${state}" != Z && "${state}" != X ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" || return 1
  [[ "${cmdline}" == *"${DIR}/"* || "${cmdline}" == *" ${DIR} "* ]]
}

pids=()
names=()
if [[ -f "${DIR}/pids" ]]; then
  # Stop in reverse start order: watchdog, kube-apiserver, then etcd.
  while read -r pid name; do
    [[ -n "${pid}" && "${pid}" != "$$" ]] || continue
    if alive "${pid}"; then
      pids=("${pid}" "${pids[@]}")
      names=("${name:-process}" "${names[@]}")
    fi
  done <"${DIR}/pids"
fi

# One at a time, so kube-apiserver shuts down while etcd still answers
# (about 3s); etcd then stops at once.
for i in "${!pids[@]}"; do
  pid="${pids[i]}"
  log "stopping ${names[i]} (pid ${pid})"
  kill -TERM "${pid}" 2>/dev/null || true
  deadline=$((SECONDS + TIMEOUT))
  while alive "${pid}" && [[ ${SECONDS} -lt ${deadline} ]]; do sleep 0.1; done
  if alive "${pid}"; then
    log "pid ${pid} still running after ${TIMEOUT}s: KILL"
    kill -KILL "${pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      alive "${pid}" || break
      sleep 0.1
    done
    if alive "${pid}"; then die "pid ${pid} survived SIGKILL"; fi
  fi
done

rm -f "${DIR}/pids"
if [[ "${keep_dir}" -eq 0 ]]; then
  rm -rf -- "${DIR}"
  log "stopped; removed ${DIR}"
else
  log "stopped; kept ${DIR}"
fi
