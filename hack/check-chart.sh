#!/usr/bin/env bash
# `make chart-test`: helm lint --strict on the chart with its defaults and with every values file of
# tests/chart (the golden renders and the refused values are tests/chart.rs, in `cargo test`), then
# the chart packaged as the release workflow packages it.
set -euo pipefail
cd "$(dirname "$0")/.."

helm="$(hack/tools/build-tools.sh --print | awk '$1 == "helm" {print $2}')"
[[ -x "${helm}" ]] || { echo "check-chart.sh: ${helm} is missing: run make tools (hack/tools/build-tools.sh)" >&2; exit 1; }

echo "== helm lint --strict charts/sidecarset (defaults)"
"${helm}" lint --strict charts/sidecarset --namespace sidecarset-system
for values in tests/chart/*.values.yaml; do
  echo "== helm lint --strict charts/sidecarset --values ${values}"
  "${helm}" lint --strict charts/sidecarset --namespace sidecarset-system --values "${values}"
done

out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT
echo "== helm package charts/sidecarset"
"${helm}" package charts/sidecarset --destination "${out}" >/dev/null
pkg="$(ls "${out}"/sidecarset-*.tgz)"
# The package holds the chart and its monitoring files, nothing of the repository around it.
listing="$(tar -tzf "${pkg}" | sort)"
for want in sidecarset/Chart.yaml sidecarset/values.yaml sidecarset/values.schema.json \
  sidecarset/files/prometheus-rules.yaml sidecarset/files/grafana-dashboard.json; do
  grep -qx "${want}" <<<"${listing}" || { echo "check-chart.sh: ${pkg} lacks ${want}" >&2; exit 1; }
done
echo "chart: packaged $(basename "${pkg}") ($(wc -c <"${pkg}") bytes, $(wc -l <<<"${listing}") files)"
