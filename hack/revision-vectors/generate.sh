#!/usr/bin/env bash
# Writes crates/core/tests/data/revision_vectors.json: the ControllerRevision OpenKruise v1.9.1 builds
# (pkg/control/sidecarcontrol/history_control.go NewRevision, after the SidecarSet's CRD defaults and
# Kruise's defaulting webhook) for each case of cases.json, through `kruise-harness revision`
# (hack/kruise-harness). crates/core/tests/revision_vectors.rs checks the core's name, labels,
# annotations and data bytes against them, without Go.
#
#   hack/revision-vectors/generate.sh            builds the harness if needed (Go, module proxy)
#   KRUISE_HARNESS=/path/to/kruise-harness hack/revision-vectors/generate.sh
#
# A case is {"case": description, "settings": the policy's settings, "collisionCount": n}; the
# SidecarSet given to Kruise is {metadata: {name: settings.name}, spec: the other settings}.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${dir}/../.." && pwd)"
out="${root}/crates/core/tests/data/revision_vectors.json"
harness="${KRUISE_HARNESS:-$("${root}/hack/kruise-harness/build.sh")}"
command -v jq >/dev/null 2>&1 || { echo "generate.sh: jq is required" >&2; exit 1; }

answers="$(mktemp)"
trap 'rm -f "${answers}"' EXIT
jq -c '.[] | {sidecarSet: {apiVersion: "apps.kruise.io/v1beta1", kind: "SidecarSet",
              metadata: {name: .settings.name}, spec: (.settings | del(.name))},
              collisionCount: .collisionCount}' "${dir}/cases.json" |
  "${harness}" revision >"${answers}"
if jq -e 'select(has("error") or has("refusedSidecarSet"))' "${answers}" >/dev/null; then
  echo "generate.sh: Kruise refused a case:" >&2
  jq -c 'select(has("error") or has("refusedSidecarSet"))' "${answers}" >&2
  exit 1
fi
jq -n --slurpfile cases "${dir}/cases.json" --slurpfile kruise "${answers}" \
  '[range(0; $cases[0] | length) as $i | $cases[0][$i] + {kruise: $kruise[$i]}]' >"${out}"
echo "wrote ${out} ($(jq length "${out}") vectors)" >&2
