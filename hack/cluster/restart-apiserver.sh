#!/usr/bin/env bash
# Stop the kube-apiserver of a cluster made by hack/cluster/start.sh DIR and
# start it again with the same command line, read back from /proc: the same
# port, certificates and flags. etcd keeps running, so every object, and every
# resourceVersion, is still there.
#
#   hack/cluster/restart-apiserver.sh DIR                  TERM, then start again
#   hack/cluster/restart-apiserver.sh --kill DIR           KILL (a crash), then start again
#   hack/cluster/restart-apiserver.sh --stop [--kill] DIR  only stop it
#   hack/cluster/restart-apiserver.sh --start DIR          start it again after --stop
#
# Between --stop and --start the API server is down and etcd up, so a test can
# change etcd under it (compact it, say). TERM is a graceful shutdown (requests
# in flight are answered; KILL after SIDECARSET_STOP_TIMEOUT, default 10 s);
# KILL answers nothing in flight. The new PID replaces the old one in DIR/pids
# (stop.sh and the watchdog stop it as before); its output is appended to
# DIR/kube-apiserver.log. Returns once /readyz answers
# (SIDECARSET_START_TIMEOUT, default 120 s).
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

usage="usage: $0 [--stop|--start] [--kill] DIR"
signal=TERM
do_stop=1
do_start=1
while [[ $# -gt 1 ]]; do
  case "$1" in
    --kill) signal=KILL ;;
    --stop) do_start=0 ;;
    --start) do_stop=0 ;;
    *) die "${usage}" ;;
  esac
  shift
done
[[ $# -eq 1 && -n "$1" ]] || die "${usage}"
[[ ${do_stop} -eq 1 || ${do_start} -eq 1 ]] || die "--stop and --start exclude each other; give neither to restart"
[[ -d "$1" ]] || die "$1 does not exist"
DIR="$(cd "$1" && pwd)"
[[ -f "${DIR}/.sidecarset-cluster" && -f "${DIR}/pids" && -f "${DIR}/env" ]] ||
  die "${DIR} is not a started cluster made by hack/cluster/start.sh"
# The command line, NUL-separated as /proc has it; kept between --stop and --start.
CMDLINE="${DIR}/kube-apiserver.cmdline"
STOP_TIMEOUT="${SIDECARSET_STOP_TIMEOUT:-10}"
START_TIMEOUT="${SIDECARSET_START_TIMEOUT:-120}"

if [[ ${do_stop} -eq 1 ]]; then
  pid="$(cluster_pid "${DIR}" kube-apiserver)"
  cluster_pid_alive "${DIR}" "${pid}" || die "no kube-apiserver of ${DIR} is running (pid '${pid}')"
  # Read while it runs: /proc forgets the command line at exit.
  cp "/proc/${pid}/cmdline" "${CMDLINE}.tmp"
  [[ -s "${CMDLINE}.tmp" ]] || die "could not read the command line of pid ${pid}"
  mv "${CMDLINE}.tmp" "${CMDLINE}"
  t0=${SECONDS}
  kill "-${signal}" "${pid}" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while cluster_pid_alive "${DIR}" "${pid}" && [[ ${SECONDS} -lt ${deadline} ]]; do sleep 0.1; done
  if cluster_pid_alive "${DIR}" "${pid}"; then
    log "kube-apiserver (pid ${pid}) still running after ${STOP_TIMEOUT}s: KILL"
    kill -KILL "${pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      cluster_pid_alive "${DIR}" "${pid}" || break
      sleep 0.1
    done
    if cluster_pid_alive "${DIR}" "${pid}"; then die "pid ${pid} survived SIGKILL"; fi
  fi
  # Until it has really exited (its socket closed), or the restart's bind can fail.
  for _ in $(seq 1 100); do
    pid_exited "${pid}" && break
    sleep 0.05
  done
  pid_exited "${pid}" || die "pid ${pid} has not exited 5 s after it stopped running"
  log "kube-apiserver (pid ${pid}) stopped by ${signal} in $((SECONDS - t0))s"
fi

if [[ ${do_start} -eq 1 ]]; then
  [[ -s "${CMDLINE}" ]] || die "no ${CMDLINE}: stop it with $0 --stop first"
  old="$(cluster_pid "${DIR}" kube-apiserver)"
  if cluster_pid_alive "${DIR}" "${old}"; then die "kube-apiserver of ${DIR} is still running (pid ${old})"; fi
  mapfile -d '' -t cmd <"${CMDLINE}"
  # shellcheck disable=SC1091
  source "${DIR}/env"
  t0=${SECONDS}
  deadline=$((SECONDS + START_TIMEOUT))
  launch() {
    printf -- '----- %s: started again by %s -----\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(basename "$0")" \
      >>"${DIR}/kube-apiserver.log"
    "${cmd[@]}" </dev/null >>"${DIR}/kube-apiserver.log" 2>&1 &
    pid=$!
    awk -v p="${pid}" '$2 == "kube-apiserver" {print p, $2; next} {print}' "${DIR}/pids" >"${DIR}/pids.tmp"
    mv "${DIR}/pids.tmp" "${DIR}/pids"
  }
  launch
  binds=0
  until curl -fsS --max-time 2 -A sidecarset-hack --cacert "${SIDECARSET_CA_CERT}" --cert "${SIDECARSET_ADMIN_CERT}" \
    --key "${SIDECARSET_ADMIN_KEY}" "${SIDECARSET_APISERVER_URL}/readyz" >/dev/null 2>&1; do
    if ! kill -0 "${pid}" 2>/dev/null; then
      # The port is this cluster's: a socket the old process left (or a connection of another
      # process that took it as its local port meanwhile) goes away; try again for a few seconds.
      if [[ ${binds} -lt 20 ]] && tail -n 5 "${DIR}/kube-apiserver.log" | grep -q 'address already in use'; then
        binds=$((binds + 1))
        sleep 0.25
        launch
        continue
      fi
      tail -n 25 "${DIR}/kube-apiserver.log" >&2
      die "kube-apiserver exited (see ${DIR}/kube-apiserver.log)"
    fi
    [[ ${SECONDS} -lt ${deadline} ]] || die "kube-apiserver not ready after ${START_TIMEOUT}s (see ${DIR}/kube-apiserver.log)"
    sleep 0.2
  done
  log "kube-apiserver (pid ${pid}) ready again in $((SECONDS - t0))s: ${SIDECARSET_APISERVER_URL}"
fi
