#!/usr/bin/env bash
# Start a throw-away etcd + kube-apiserver on 127.0.0.1 for tests.
#
#   hack/cluster/start.sh DIR
#   source DIR/env            # KUBECONFIG, ports, cert paths
#   ...
#   hack/cluster/stop.sh DIR
#
# DIR holds everything (certs, etcd data, logs, kubeconfig, pids, env); it is
# created if missing and must be empty or a previous cluster dir. No kubelet,
# controller-manager or scheduler runs: tests play the kubelet.
#
# Environment (all optional):
#   SIDECARSET_APISERVER_PORT   kube-apiserver secure port  (default: a free random port)
#   SIDECARSET_ETCD_PORT        etcd client port            (default: a free random port)
#   SIDECARSET_ETCD_PEER_PORT   etcd peer port              (default: a free random port)
#   SIDECARSET_START_TIMEOUT    seconds to wait for readiness (default 120)
#   SIDECARSET_WATCH_PID        stop the cluster when this PID exits (a test
#                               harness passing its own PID cleans up after a crash)
#   SIDECARSET_KUBE_APISERVER / SIDECARSET_ETCD  use these binaries instead of the cache
#   SIDECARSET_APISERVER_EXTRA_ARGS  extra kube-apiserver flags (word-split)
#   SIDECARSET_CACHE            binary cache (default ~/.cache/sidecarset)
# Binaries missing from the cache are built first (build-apiserver.sh).
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[[ $# -eq 1 ]] || die "usage: $0 DIR"
need openssl "apt-get install openssl"
need curl "apt-get install curl"

mkdir -p "$1"
DIR="$(cd "$1" && pwd)"
MARKER="${DIR}/.sidecarset-cluster"
START_TIMEOUT="${SIDECARSET_START_TIMEOUT:-120}"

# --- an existing cluster in DIR? ---------------------------------------------
if [[ -n "$(ls -A "${DIR}")" ]]; then
  [[ -f "${MARKER}" ]] || die "${DIR} is not empty and is not a cluster dir made by $0; pass a new or empty directory"
  if [[ -f "${DIR}/env" && -f "${DIR}/pids" ]]; then
    alive=1
    while read -r pid _; do
      if [[ -z "${pid}" ]] || ! kill -0 "${pid}" 2>/dev/null; then alive=0; fi
    done <"${DIR}/pids"
    # shellcheck disable=SC1091
    if [[ "${alive}" -eq 1 ]] && (source "${DIR}/env" &&
      curl -fsS --max-time 5 --cacert "${SIDECARSET_CA_CERT}" --cert "${SIDECARSET_ADMIN_CERT}" \
        --key "${SIDECARSET_ADMIN_KEY}" "${SIDECARSET_APISERVER_URL}/readyz" >/dev/null 2>&1); then
      log "already running in ${DIR} (source ${DIR}/env)"
      exit 0
    fi
  fi
  log "${DIR} holds a stopped or broken cluster: stopping what is left and starting afresh"
  "${CLUSTER_HACK_DIR}/stop.sh" --keep-dir "${DIR}"
  find "${DIR}" -mindepth 1 -delete
fi
touch "${MARKER}"

# --- binaries -------------------------------------------------------------------
APISERVER="${SIDECARSET_KUBE_APISERVER:-$(apiserver_bin)}"
ETCD="${SIDECARSET_ETCD:-$(etcd_bin)}"
if [[ ! -x "${APISERVER}" || ! -x "${ETCD}" ]]; then
  log "binaries missing from ${CLUSTER_BIN_DIR}: building them"
  "${CLUSTER_HACK_DIR}/build-apiserver.sh"
fi
[[ -x "${APISERVER}" ]] || die "kube-apiserver not found at ${APISERVER} (run hack/cluster/build-apiserver.sh)"
[[ -x "${ETCD}" ]] || die "etcd not found at ${ETCD} (run hack/cluster/build-apiserver.sh)"

# --- on failure: leave logs, stop processes -----------------------------------
started_pids=()
on_exit() {
  local rc=$?
  if [[ ${rc} -ne 0 ]]; then
    for pid in "${started_pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
    for f in etcd.log kube-apiserver.log; do
      if [[ -f "${DIR}/${f}" ]]; then
        printf '%s\n' "----- last lines of ${DIR}/${f} -----" >&2
        tail -n 25 "${DIR}/${f}" >&2
      fi
    done
    log "failed; logs are in ${DIR} (remove it with hack/cluster/stop.sh ${DIR})"
  fi
}
trap on_exit EXIT

# --- ports ----------------------------------------------------------------------
# Is something listening on TCP port $1 (any address)? Reads /proc, so no
# ss/netstat is needed; ports there are upper-case hex.
port_in_use() {
  local hex
  hex="$(printf '%04X' "$1")"
  awk -v h="${hex}" 'FNR > 1 && $4 == "0A" {n = split($2, a, ":"); if (a[n] == h) f = 1} END {exit !f}' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# A random port that nothing listens on and no earlier pick took, from outside
# the kernel's ephemeral range: a port there can be the local end of any of the
# tests' outgoing connections, which /proc shows as not listening but which
# still makes etcd's or kube-apiserver's bind fail ("address already in use").
read -r EPHEMERAL_LO EPHEMERAL_HI </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || {
  EPHEMERAL_LO=32768
  EPHEMERAL_HI=60999
}
if [[ ${EPHEMERAL_LO} -ge 12000 ]]; then
  PICK_LO=10000
  PICK_SPAN=$((EPHEMERAL_LO - 10000))
else
  PICK_LO=$((EPHEMERAL_HI + 1))
  PICK_SPAN=$((65535 - EPHEMERAL_HI))
fi
# Sets PICKED (not printed: a $(...) subshell would lose what `taken` records).
taken=" "
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((PICK_LO + (RANDOM * 32768 + RANDOM) % PICK_SPAN))
    if [[ "${taken}" != *" ${p} "* ]] && ! port_in_use "${p}"; then
      taken+="${p} "
      PICKED="${p}"
      return 0
    fi
  done
  die "could not find a free port"
}

pick_port
ETCD_PORT="${SIDECARSET_ETCD_PORT:-${PICKED}}"
pick_port
ETCD_PEER_PORT="${SIDECARSET_ETCD_PEER_PORT:-${PICKED}}"
pick_port
APISERVER_PORT="${SIDECARSET_APISERVER_PORT:-${PICKED}}"
for p in "${ETCD_PORT}" "${ETCD_PEER_PORT}" "${APISERVER_PORT}"; do
  if port_in_use "${p}"; then
    die "port ${p} is already in use on this machine (unset or change SIDECARSET_*_PORT)"
  fi
done
[[ "${ETCD_PORT}" != "${ETCD_PEER_PORT}" && "${ETCD_PORT}" != "${APISERVER_PORT}" &&
  "${ETCD_PEER_PORT}" != "${APISERVER_PORT}" ]] || die "the three ports must differ"

# --- certificates -------------------------------------------------------------
PKI="${DIR}/pki"
mkdir -p "${PKI}"
chmod 0700 "${PKI}"
gen_ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign NAME SUBJECT EXTFILE-CONTENT: key + CSR + cert signed by the CA
sign() {
  local name="$1" subj="$2" ext="$3"
  gen_ec_key "${PKI}/${name}.key"
  openssl req -new -key "${PKI}/${name}.key" -subj "${subj}" -out "${PKI}/${name}.csr" 2>/dev/null
  printf '%s\n' "${ext}" >"${PKI}/${name}.ext"
  openssl x509 -req -in "${PKI}/${name}.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" \
    -CAcreateserial -days 30 -sha256 -extfile "${PKI}/${name}.ext" -out "${PKI}/${name}.crt" 2>/dev/null
  rm -f "${PKI}/${name}.csr" "${PKI}/${name}.ext"
}

gen_ec_key "${PKI}/ca.key"
openssl req -x509 -new -key "${PKI}/ca.key" -subj "/CN=sidecarset-test-ca" -days 30 -sha256 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "${PKI}/ca.crt" 2>/dev/null
sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
sign admin "/O=system:masters/CN=sidecarset-admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
# Service-account token signing pair (RS256: the most widely accepted).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${PKI}/sa.key" 2>/dev/null
openssl pkey -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
chmod 0600 "${PKI}"/*.key

# --- etcd -------------------------------------------------------------------
# A port picked above can still be taken before etcd or kube-apiserver binds
# it (another cluster starting beside this one): when the process exits on
# "address already in use" and the ports were ours to pick, pick again.
bind_lost() { # LOG
  [[ -z "${SIDECARSET_ETCD_PORT:-}${SIDECARSET_ETCD_PEER_PORT:-}${SIDECARSET_APISERVER_PORT:-}" ]] &&
    grep -q 'address already in use' "$1"
}
deadline=$((SECONDS + START_TIMEOUT))
for attempt in 1 2 3; do
  rm -rf "${DIR}/etcd"
  mkdir -p "${DIR}/etcd"
  chmod 0700 "${DIR}/etcd"
  "${ETCD}" \
    --name=sidecarset \
    --data-dir="${DIR}/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster="sidecarset=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster-state=new \
    --unsafe-no-fsync \
    --quota-backend-bytes=2147483648 \
    --log-level=warn \
    </dev/null >"${DIR}/etcd.log" 2>&1 &
  ETCD_PID=$!
  started_pids+=("${ETCD_PID}")
  echo "${ETCD_PID} etcd" >"${DIR}/pids"
  etcd_up=0
  until curl -fsS --max-time 2 "http://127.0.0.1:${ETCD_PORT}/health" 2>/dev/null | grep -q '"health":"true"'; do
    if ! kill -0 "${ETCD_PID}" 2>/dev/null; then
      if [[ ${attempt} -lt 3 ]] && bind_lost "${DIR}/etcd.log"; then
        log "etcd lost a port to another process; picking new ones (attempt ${attempt})"
        pick_port
        ETCD_PORT="${PICKED}"
        pick_port
        ETCD_PEER_PORT="${PICKED}"
        continue 2
      fi
      die "etcd exited (see ${DIR}/etcd.log)"
    fi
    [[ ${SECONDS} -lt ${deadline} ]] || die "etcd not healthy after ${START_TIMEOUT}s (see ${DIR}/etcd.log)"
    sleep 0.2
  done
  etcd_up=1
  break
done
[[ ${etcd_up} -eq 1 ]] || die "etcd did not start (see ${DIR}/etcd.log)"

# --- kube-apiserver -----------------------------------------------------------
extra_args=()
if [[ -n "${SIDECARSET_APISERVER_EXTRA_ARGS:-}" ]]; then
  read -r -a extra_args <<<"${SIDECARSET_APISERVER_EXTRA_ARGS}"
fi
URL_FOR() { printf 'https://127.0.0.1:%s' "$1"; }
# A non-curl User-Agent: the API server pretty-prints JSON for curl, and the
# checks below grep compact JSON.
CURL=(curl -sS --max-time 10 -A sidecarset-hack --cacert "${PKI}/ca.crt" --cert "${PKI}/admin.crt" --key "${PKI}/admin.key")
for attempt in 1 2 3; do
  mkdir -p "${DIR}/apiserver"
  "${APISERVER}" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="${APISERVER_PORT}" \
    --cert-dir="${DIR}/apiserver" \
    --tls-cert-file="${PKI}/apiserver.crt" \
    --tls-private-key-file="${PKI}/apiserver.key" \
    --client-ca-file="${PKI}/ca.crt" \
    --authorization-mode=RBAC \
    --disable-admission-plugins=ServiceAccount \
    --endpoint-reconciler-type=none \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${PKI}/sa.pub" \
    --service-account-signing-key-file="${PKI}/sa.key" \
    --allow-privileged=true \
    --profiling=false \
    --shutdown-watch-termination-grace-period=2s \
    --v=1 \
    "${extra_args[@]}" \
    </dev/null >"${DIR}/kube-apiserver.log" 2>&1 &
  APISERVER_PID=$!
  started_pids+=("${APISERVER_PID}")
  echo "${APISERVER_PID} kube-apiserver" >>"${DIR}/pids"
  URL="$(URL_FOR "${APISERVER_PORT}")"
  apiserver_up=0
  until "${CURL[@]}" -f --max-time 2 "${URL}/readyz" >/dev/null 2>&1; do
    if ! kill -0 "${APISERVER_PID}" 2>/dev/null; then
      if [[ ${attempt} -lt 3 ]] && bind_lost "${DIR}/kube-apiserver.log"; then
        log "kube-apiserver lost its port to another process; picking a new one (attempt ${attempt})"
        sed -i '/ kube-apiserver$/d' "${DIR}/pids"
        pick_port
        APISERVER_PORT="${PICKED}"
        continue 2
      fi
      die "kube-apiserver exited (see ${DIR}/kube-apiserver.log)"
    fi
    [[ ${SECONDS} -lt ${deadline} ]] || die "kube-apiserver not ready after ${START_TIMEOUT}s (see ${DIR}/kube-apiserver.log)"
    sleep 0.3
  done
  apiserver_up=1
  break
done
[[ ${apiserver_up} -eq 1 ]] || die "kube-apiserver did not start (see ${DIR}/kube-apiserver.log)"

# --- kubeconfig + env ---------------------------------------------------------
b64() { base64 -w0 <"$1"; }
umask 077
cat >"${DIR}/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sidecarset-test
  cluster:
    server: ${URL}
    certificate-authority-data: $(b64 "${PKI}/ca.crt")
users:
- name: sidecarset-admin
  user:
    client-certificate-data: $(b64 "${PKI}/admin.crt")
    client-key-data: $(b64 "${PKI}/admin.key")
contexts:
- name: sidecarset-test
  context:
    cluster: sidecarset-test
    user: sidecarset-admin
current-context: sidecarset-test
EOF
{
  printf '# written by hack/cluster/start.sh; source it\n'
  printf 'export KUBECONFIG=%q\n' "${DIR}/kubeconfig"
  printf 'export SIDECARSET_CLUSTER_DIR=%q\n' "${DIR}"
  printf 'export SIDECARSET_APISERVER_URL=%q\n' "${URL}"
  printf 'export SIDECARSET_APISERVER_PORT=%q\n' "${APISERVER_PORT}"
  printf 'export SIDECARSET_ETCD_PORT=%q\n' "${ETCD_PORT}"
  printf 'export SIDECARSET_ETCD_PEER_PORT=%q\n' "${ETCD_PEER_PORT}"
  printf 'export SIDECARSET_CA_CERT=%q\n' "${PKI}/ca.crt"
  printf 'export SIDECARSET_ADMIN_CERT=%q\n' "${PKI}/admin.crt"
  printf 'export SIDECARSET_ADMIN_KEY=%q\n' "${PKI}/admin.key"
  printf 'export SIDECARSET_KUBE_VERSION=%q\n' "$(kube_version)"
} >"${DIR}/env"
umask 022

# --- CRDs ---------------------------------------------------------------------
# Server-side apply (idempotent), then wait until Established and listable.
for crd in "${CLUSTER_HACK_DIR}"/crds/*.yaml; do
  [[ -e "${crd}" ]] || continue
  name="$(awk '/^metadata:/ {m = 1; next} m && /^[^ ]/ {m = 0} m && $1 == "name:" {print $2; exit}' "${crd}")"
  [[ -n "${name}" ]] || die "no metadata.name in ${crd}"
  out="$("${CURL[@]}" -X PATCH -H 'Content-Type: application/apply-patch+yaml' --data-binary "@${crd}" \
    -w '\n%{http_code}' "${URL}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=sidecarset-hack&force=true")"
  code="${out##*$'\n'}"
  [[ "${code}" == 200 || "${code}" == 201 ]] || die "applying ${crd} failed (HTTP ${code}): $(printf '%s' "${out%$'\n'*}" | head -c 2000)"
  plural="${name%%.*}"
  group="${name#*.}"
  # The storage version, as the server reports it.
  version="$(printf '%s' "${out%$'\n'*}" | sed -n 's/.*"storedVersions":\["\([^"]*\)".*/\1/p')"
  [[ -n "${version}" ]] || die "no status.storedVersions in the reply for ${name}: $(printf '%s' "${out%$'\n'*}" | head -c 2000)"
  until "${CURL[@]}" -f "${URL}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}" 2>/dev/null |
    grep -q '"type":"Established","status":"True"' &&
    "${CURL[@]}" -f -o /dev/null "${URL}/apis/${group}/${version}/${plural}?limit=1" 2>/dev/null; do
    [[ ${SECONDS} -lt ${deadline} ]] || die "CRD ${name} not established after ${START_TIMEOUT}s"
    sleep 0.2
  done
  log "CRD ${name} established (${group}/${version})"
done

# --- optional watchdog --------------------------------------------------------
if [[ -n "${SIDECARSET_WATCH_PID:-}" ]]; then
  kill -0 "${SIDECARSET_WATCH_PID}" 2>/dev/null || die "SIDECARSET_WATCH_PID=${SIDECARSET_WATCH_PID} is not running"
  # A plain bash loop (its command line names DIR, which stop.sh checks
  # before signalling a PID): when the watched process is gone, stop the cluster.
  # shellcheck disable=SC2016
  bash -c 'while kill -0 "$1" 2>/dev/null && [ -f "$2/pids" ]; do sleep 2; done
    if [ -f "$2/pids" ]; then exec "$3" --from-watchdog "$2"; fi' \
    sidecarset-watchdog "${SIDECARSET_WATCH_PID}" "${DIR}" "${CLUSTER_HACK_DIR}/stop.sh" \
    </dev/null >>"${DIR}/watchdog.log" 2>&1 &
  echo "$! watchdog" >>"${DIR}/pids"
fi

log "ready in ${SECONDS}s: ${URL} (etcd 127.0.0.1:${ETCD_PORT}); source ${DIR}/env; stop with hack/cluster/stop.sh ${DIR}"
