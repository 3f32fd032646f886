#!/usr/bin/env bash
# The Filebeat story: an nginx Pod labelled kruise.io/inject-filebeat=true, through the policy.
# Uses kwctl when installed (or $KWCTL), the project's test host otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
case_dir=test_data/golden/filebeat-story
if [ -z "${KWCTL:-}" ]; then
  if command -v kwctl >/dev/null; then KWCTL=kwctl; else
    cargo build --quiet --locked --profile host -p kwhost
    KWCTL=${CARGO_TARGET_DIR:-target}/host/kwhost
  fi
fi
response=$("$KWCTL" run --request-path "$case_dir/request.json" --settings-path "$case_dir/settings.yaml" policy.wasm)
echo "== AdmissionResponse ($KWCTL run)"
echo "$response"
echo
echo "== JSON patch"
echo "$response" | jq -r '.patch' | base64 -d | jq .
