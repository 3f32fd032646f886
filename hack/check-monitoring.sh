#!/usr/bin/env bash
# The reconciler's alerts and dashboard, checked without a cluster (`make monitoring-test`):
#   charts/sidecarset/files/prometheus-rules.yaml   promtool check rules
#   tests/monitoring/rules.test.yaml                promtool test rules (the alerts' unit tests)
#   charts/sidecarset/files/grafana-dashboard.json  jq: valid JSON, unique panel ids, an expr in
#                                                   every target, every data source the
#                                                   ${datasource} variable
# That every metric they name is exported is the cluster test dashboard_and_alert_metrics_exist
# (crates/cluster-tests/tests/monitoring/mod.rs): it needs a reconciler running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

RULES=charts/sidecarset/files/prometheus-rules.yaml
TESTS=tests/monitoring/rules.test.yaml
DASHBOARD=charts/sidecarset/files/grafana-dashboard.json

log() { printf '[check-monitoring.sh] %s\n' "$*" >&2; }
die() {
  printf '[check-monitoring.sh] error: %s\n' "$*" >&2
  exit 1
}

command -v jq >/dev/null 2>&1 || die "'jq' not found: install it (apt-get install jq)"

promtool="$(hack/tools/build-tools.sh --print | awk '$1 == "promtool" {print $2}')"
[[ -n "${promtool}" ]] || die "hack/tools/build-tools.sh --print names no promtool"
[[ -x "${promtool}" ]] || die "promtool not built (${promtool} missing): run 'make tools'"

log "promtool check rules ${RULES}"
"${promtool}" check rules "${RULES}"

# Every alert has unit tests: an alert no test names could be changed or broken unnoticed.
alerts="$(sed -n 's/^[[:space:]]*- alert:[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "${RULES}" | sort -u)"
tested="$(sed -n 's/^[[:space:]]*alertname:[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "${TESTS}" | sort -u)"
[[ -n "${alerts}" ]] || die "${RULES} defines no alert"
untested="$(comm -23 <(printf '%s\n' "${alerts}") <(printf '%s\n' "${tested}"))"
[[ -z "${untested}" ]] || die "alerts without a unit test in ${TESTS}: $(echo ${untested})"

log "promtool test rules ${TESTS}"
junit="$(mktemp)"
trap 'rm -f "${junit}"' EXIT
"${promtool}" test rules --junit="${junit}" "${TESTS}"
groups="$(grep -o '<testcase ' "${junit}" | wc -l)"
failures="$(sed -n 's/.*<testsuite [^>]*failures="\([0-9]*\)".*/\1/p' "${junit}" | head -n1)"
evaluations="$(grep -c '^[[:space:]]*alertname:' "${TESTS}")"
[[ "${failures:-1}" == 0 && "${groups}" -gt 0 ]] || die "promtool reported ${failures:-?} failures over ${groups} groups"
log "alert unit tests: ${evaluations} alert evaluations in ${groups} test groups, all passed ($(echo "${alerts}" | wc -l) alerts, each tested)"

log "checking ${DASHBOARD}"
jq empty "${DASHBOARD}" 2>/dev/null || die "${DASHBOARD} is not valid JSON: $(jq empty "${DASHBOARD}" 2>&1)"

# Panels, including those nested in collapsed rows.
all_panels='[.panels[]? | ., (.panels[]?)]'

dups="$(jq -r "${all_panels} | map(.id) | group_by(.) | map(select(length > 1) | .[0]) | .[]" "${DASHBOARD}")"
[[ -z "${dups}" ]] || die "duplicate panel ids: $(echo ${dups})"
missing_id="$(jq -r "${all_panels} | map(select(.id == null) | .title) | .[]" "${DASHBOARD}")"
[[ -z "${missing_id}" ]] || die "panels without an id: ${missing_id}"

# A panel other than a row shows queries: no targets, or a target without an expr, shows nothing.
no_expr="$(jq -r "${all_panels} | map(select(.type != \"row\")
    | select((.targets // []) | length == 0 or any(.[]; (.expr // \"\") == \"\")) | \"\(.id) \(.title)\") | .[]" "${DASHBOARD}")"
[[ -z "${no_expr}" ]] || die "panels with no targets or a target without expr: ${no_expr}"

# Every data source reference, anywhere (panels, targets, variables), is the variable: a fixed uid
# names a data source of the dashboard author's Grafana, not the user's.
fixed="$(jq -r '[paths(type == "object" and has("datasource")) as $p | getpath($p).datasource
    | select(. != null) | select((type == "string" and . != "${datasource}")
      or (type == "object" and .uid != "${datasource}")) | tojson] | unique | .[]' "${DASHBOARD}")"
[[ -z "${fixed}" ]] || die "data source references other than \${datasource}: ${fixed}"
jq -e '.templating.list | any(.name == "datasource" and .type == "datasource" and .query == "prometheus")' \
  "${DASHBOARD}" >/dev/null || die "no datasource variable of type datasource (prometheus)"
jq -e '.uid | type == "string" and length > 0' "${DASHBOARD}" >/dev/null || die "the dashboard has no fixed uid"

panels="$(jq "${all_panels} | map(select(.type != \"row\")) | length" "${DASHBOARD}")"
exprs="$(jq "[${all_panels}[] | .targets[]?.expr] | length" "${DASHBOARD}")"
log "dashboard: ${panels} panels, ${exprs} queries, all on \${datasource}"
log "ok"
