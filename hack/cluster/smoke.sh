#!/usr/bin/env bash
# Smoke test of the loopback cluster, with curl only (no kubectl):
# start.sh in a temp dir, the API behaviour the reconciler tests rely on,
# then stop.sh. Prints one line per check and "N passed, N failed".
#
#   hack/cluster/smoke.sh
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

DIR="$(mktemp -d "${TMPDIR:-/tmp}/sidecarset-smoke.XXXXXX")"
cleanup() { "${CLUSTER_HACK_DIR}/stop.sh" "${DIR}" >/dev/null 2>&1 || true; }
trap cleanup EXIT

t0=${SECONDS}
"${CLUSTER_HACK_DIR}/start.sh" "${DIR}"
log "start.sh took $((SECONDS - t0))s"
# shellcheck disable=SC1091
source "${DIR}/env"

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  printf 'ok   %s\n' "$1"
}
fail() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
  [[ -z "${2:-}" ]] || printf '     %s\n' "$(printf '%s' "$2" | head -c 600)"
}

# api METHOD PATH [CONTENT-TYPE BODY] -> sets CODE and BODY
api() {
  local method="$1" path="$2" ctype="${3:-}" data="${4:-}" out
  local args=(-sS -A sidecarset-smoke --max-time 20 --cacert "${SIDECARSET_CA_CERT}"
    --cert "${SIDECARSET_ADMIN_CERT}" --key "${SIDECARSET_ADMIN_KEY}" -X "${method}" -w '\n%{http_code}')
  if [[ -n "${ctype}" ]]; then args+=(-H "Content-Type: ${ctype}" --data-binary "${data}"); fi
  args+=("${API_HEADERS[@]}")
  out="$(curl "${args[@]}" "${SIDECARSET_APISERVER_URL}${path}")"
  CODE="${out##*$'\n'}"
  BODY="${out%$'\n'*}"
}
API_HEADERS=()

# check NAME EXPECTED-CODE [GREP-PATTERN...]
check() {
  local name="$1" want="$2" pat
  shift 2
  if [[ "${CODE}" != "${want}" ]]; then
    fail "${name}: HTTP ${CODE}, want ${want}" "${BODY}"
    return 0
  fi
  for pat in "$@"; do
    if ! grep -qF -- "${pat}" <<<"${BODY}"; then
      fail "${name}: reply lacks ${pat}" "${BODY}"
      return 0
    fi
  done
  ok "${name}"
}

NS=smoke
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

api GET /api/v1/namespaces
check "list namespaces (client cert)" 200 '"kind":"NamespaceList"' '"name":"default"'

api GET /version
BODY="$(tr -d ' \n' <<<"${BODY}")" # /version is always pretty-printed
check "version is ${SIDECARSET_KUBE_VERSION}" 200 "\"gitVersion\":\"${SIDECARSET_KUBE_VERSION}\""

api POST /api/v1/namespaces application/json "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"${NS}\"}}"
check "create namespace" 201

# A Pod with a restartable init container (native sidecar) and no nodeName.
api POST "/api/v1/namespaces/${NS}/pods" application/yaml 'apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  initContainers:
  - name: logger
    image: busybox:1.36
    restartPolicy: Always
  containers:
  - name: app
    image: nginx:1.27'
check "create pod without spec.nodeName" 201 '"phase":"Pending"' '"restartPolicy":"Always"'

# Play the kubelet: status through the /status subresource.
status_patch="{\"status\":{\"phase\":\"Running\",\"startTime\":\"${now}\",
 \"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"${now}\"},
                {\"type\":\"ContainersReady\",\"status\":\"True\",\"lastTransitionTime\":\"${now}\"}],
 \"initContainerStatuses\":[{\"name\":\"logger\",\"image\":\"busybox:1.36\",\"ready\":true,\"started\":true,\"restartCount\":0,
   \"imageID\":\"docker.io/library/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111\",
   \"containerID\":\"containerd://1\",\"state\":{\"running\":{\"startedAt\":\"${now}\"}}}],
 \"containerStatuses\":[{\"name\":\"app\",\"image\":\"nginx:1.27\",\"ready\":true,\"started\":true,\"restartCount\":0,
   \"imageID\":\"docker.io/library/nginx@sha256:2222222222222222222222222222222222222222222222222222222222222222\",
   \"containerID\":\"containerd://2\",\"state\":{\"running\":{\"startedAt\":\"${now}\"}}}]}}"
api PATCH "/api/v1/namespaces/${NS}/pods/web/status" application/merge-patch+json "${status_patch}"
check "patch pod /status (Running, Ready, imageID) with no kubelet" 200

api GET "/api/v1/namespaces/${NS}/pods/web"
check "pod status persisted" 200 '"phase":"Running"' '"type":"Ready","status":"True"' \
  '"imageID":"docker.io/library/nginx@sha256:2222' '"imageID":"docker.io/library/busybox@sha256:1111'

api PATCH "/api/v1/namespaces/${NS}/pods/web" application/merge-patch+json '{"status":{"phase":"Failed"}}'
check "status in a main-resource patch is ignored" 200 '"phase":"Running"'

api POST /apis/policies.kubewarden.io/v1/clusteradmissionpolicies application/yaml 'apiVersion: policies.kubewarden.io/v1
kind: ClusterAdmissionPolicy
metadata:
  name: sidecarset-smoke
spec:
  module: registry://ghcr.io/example/sidecarset:v0.1.0
  mutating: true
  rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
  settings:
    sidecarSets:
    - name: logger
      containers:
      - name: logger
        image: busybox:1.36'
check "create ClusterAdmissionPolicy with spec.settings" 201 '"settings":{"sidecarSets":[{' '"policyServer":"default"'

api PATCH /apis/policies.kubewarden.io/v1/clusteradmissionpolicies/sidecarset-smoke application/merge-patch+json \
  '{"metadata":{"annotations":{"sidecarset.io/smoke":"1"}}}'
check "annotate ClusterAdmissionPolicy" 200 '"sidecarset.io/smoke":"1"' '"generation":1'

api PATCH /apis/policies.kubewarden.io/v1/clusteradmissionpolicies/sidecarset-smoke/status application/merge-patch+json \
  '{"status":{"policyStatus":"active"}}'
check "ClusterAdmissionPolicy /status subresource" 200 '"policyStatus":"active"'

api POST /apis/policies.kubewarden.io/v1/clusteradmissionpolicies application/json \
  '{"apiVersion":"policies.kubewarden.io/v1","kind":"ClusterAdmissionPolicy","metadata":{"name":"bad"},"spec":{"settings":{}}}'
check "CRD schema rejects a spec without module/mutating/rules" 422 'spec.module: Required value'

API_HEADERS=(-H 'Impersonate-User: system:serviceaccount:kubewarden:sidecarset')
api GET /apis/policies.kubewarden.io/v1/clusteradmissionpolicies
check "RBAC: impersonated service account without bindings is denied" 403
API_HEADERS=()

api DELETE "/api/v1/namespaces/${NS}/pods/web"
check "delete unbound pod" 200
api GET "/api/v1/namespaces/${NS}/pods/web"
check "an unbound pod is gone at once (no kubelet needed)" 404

api POST "/api/v1/namespaces/${NS}/pods" application/json \
  '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bound"},"spec":{"nodeName":"node-a","containers":[{"name":"app","image":"nginx:1.27"}]}}'
check "create pod bound to a node that does not exist" 201 '"nodeName":"node-a"'
api DELETE "/api/v1/namespaces/${NS}/pods/bound"
check "graceful delete of a bound pod" 200 '"deletionGracePeriodSeconds":30'
api GET "/api/v1/namespaces/${NS}/pods/bound"
check "a bound pod stays (deletionTimestamp set) until someone force-deletes it" 200 '"deletionTimestamp"'
api DELETE "/api/v1/namespaces/${NS}/pods/bound" application/json '{"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":0}'
check "delete with gracePeriodSeconds=0" 200
api GET "/api/v1/namespaces/${NS}/pods/bound"
check "then it is gone" 404

pids="$(awk '{print $1}' "${DIR}/pids" | tr '\n' ' ')"
t0=${SECONDS}
"${CLUSTER_HACK_DIR}/stop.sh" "${DIR}"
log "stop.sh took $((SECONDS - t0))s"
still=""
for pid in ${pids}; do
  if kill -0 "${pid}" 2>/dev/null && [[ "$(cat "/proc/${pid}/stat" 2>/dev/null)" != *") Z "* ]]; then still+=" ${pid}"; fi
done
if [[ -z "${still}" && ! -e "${DIR}" ]]; then ok "stop.sh ended every process and removed the dir"; else fail "stop.sh left${still:- the dir}"; fi

printf '%s passed, %s failed\n' "${passed}" "${failed}"
[[ "${failed}" -eq 0 ]]
