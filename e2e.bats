#!/usr/bin/env bats
# End-to-end tests of the annotated policy, Kubewarden style: `kwctl run` on annotated-policy.wasm,
# the JSON patch decoded with jq. `make e2e-tests` builds the module and sets KWCTL to kwctl, or to
# the project's test host (kwhost, output-compatible with `kwctl run`) where kwctl is missing.

GOLDEN=test_data/golden

setup() {
  cd "$BATS_TEST_DIRNAME"
  KWCTL=${KWCTL:-kwctl}
  if [ ! -f annotated-policy.wasm ]; then
    echo "annotated-policy.wasm is missing: run 'make e2e-tests' (or 'make annotated-policy.wasm')" >&2
    return 1
  fi
}

policy_run() {
  "$KWCTL" run "$@" annotated-policy.wasm
}

# The decoded patch as compact JSON, or `null` when the response has none. The command's stderr
# (kwctl logs there) is dropped so that only the response reaches jq.
decoded_patch() {
  policy_run "$@" 2>/dev/null | jq -ec 'if .patch == null then null else .patch | @base64d | fromjson end'
}

# The response line alone.
response() {
  policy_run "$@" 2>/dev/null
}

@test "Filebeat example: the sidecar, its volume and the Kruise annotations are injected" {
  run response --request-path "$GOLDEN/filebeat-story/request.json" --settings-path "$GOLDEN/filebeat-story/settings.yaml"
  echo "output = ${output}"
  [ "$status" -eq 0 ]
  [ "$(expr "$output" : '.*"allowed":true.*')" -ne 0 ]
  [ "$(expr "$output" : '.*"patchType":"JSONPatch".*')" -ne 0 ]

  run decoded_patch --request-path "$GOLDEN/filebeat-story/request.json" --settings-path "$GOLDEN/filebeat-story/settings.yaml"
  echo "patch = ${output}"
  [ "$status" -eq 0 ]
  # kwctl diffs arrays by position: filebeat goes first (BeforeAppContainer), so the patch
  # rewrites container 0 into filebeat and adds nginx, unchanged, as container 1.
  echo "$output" | jq -e 'any(.[]; .op == "replace" and .path == "/spec/containers/0/name" and .value == "filebeat")'
  echo "$output" | jq -e 'any(.[]; .op == "replace" and .path == "/spec/containers/0/image" and .value == "docker.elastic.co/beats/filebeat:7.16.2")'
  echo "$output" | jq -e 'any(.[]; .op == "add" and .path == "/spec/containers/1" and .value.name == "nginx" and .value.image == "nginx:1.27")'
  echo "$output" | jq -e 'any(.[]; .op == "add" and .path == "/spec/volumes/1" and .value == {"configMap":{"defaultMode":420,"name":"filebeat-config"},"name":"config"})'
  echo "$output" | jq -e 'any(.[]; .op == "add" and .path == "/metadata/annotations" and .value["kruise.io/sidecarset-injected-list"] == "filebeat")'
  echo "$output" | jq -e 'any(.[]; .op == "add" and .path == "/spec/containers/0/env" and (.value | any(.name == "IS_INJECTED" and .value == "true")))'
}

@test "a Pod the selector does not match is accepted without a patch" {
  run response --request-path "$GOLDEN/filebeat-no-label/request.json" --settings-path "$GOLDEN/filebeat-story/settings.yaml"
  echo "output = ${output}"
  [ "$status" -eq 0 ]
  [ "$(expr "$output" : '.*"allowed":true.*')" -ne 0 ]
  [ "$(expr "$output" : '.*"patch".*')" -eq 0 ]

  run decoded_patch --request-path "$GOLDEN/filebeat-no-label/request.json" --settings-path "$GOLDEN/filebeat-story/settings.yaml"
  [ "$status" -ne 0 ]
  [ "$output" = "null" ]
}

@test "re-evaluating an injected Pod gives no patch" {
  local request="$BATS_TEST_TMPDIR/injected.json"
  jq --slurpfile pod "$GOLDEN/filebeat-story/expected.json" '.object = $pod[0]' "$GOLDEN/filebeat-story/request.json" >"$request"
  run response --request-path "$request" --settings-path "$GOLDEN/filebeat-story/settings.yaml"
  echo "output = ${output}"
  [ "$status" -eq 0 ]
  [ "$(expr "$output" : '.*"allowed":true.*')" -ne 0 ]
  [ "$(expr "$output" : '.*"patch".*')" -eq 0 ]
}

@test "invalid settings: non-zero exit and every problem in the message" {
  run policy_run --request-path "$GOLDEN/filebeat-story/request.json" --settings-path test_data/invalid-settings/unknown-key-and-missing-selector.yaml
  echo "output = ${output}"
  [ "$status" -ne 0 ]
  [[ "$output" == *'Provided settings are not valid: '* ]]
  [[ "$output" == *'selectorr: unknown field "selectorr", did you mean "selector"?'* ]]
  [[ "$output" == *'selector: required'* ]]
}

@test "namespaceSelector: a matching Namespace, read through a replayed lookup, gets the sidecar" {
  local case="$GOLDEN/namespace-selector-match"
  run decoded_patch --request-path "$case/request.json" --settings-path "$case/settings.yaml" \
    --allow-context-aware --replay-host-capabilities-interactions "$case/replay.yml"
  echo "patch = ${output}"
  [ "$status" -eq 0 ]
  # Positional diff again: container 0 becomes the sidecar, the app container moves to index 1.
  echo "$output" | jq -e 'any(.[]; .op == "replace" and .path == "/spec/containers/0/name" and .value == "agent")'
  echo "$output" | jq -e 'any(.[]; .op == "replace" and .path == "/spec/containers/0/image" and .value == "busybox:1.36")'
  echo "$output" | jq -e 'any(.[]; .op == "add" and .path == "/spec/containers/1" and .value.name == "app")'
  echo "$output" | jq -e 'any(.[]; .op == "add" and .path == "/metadata/annotations" and .value["kruise.io/sidecarset-injected-list"] == "log-agent")'
}

@test "namespaceSelector: a Namespace without the label gets no patch" {
  local case="$GOLDEN/namespace-selector-no-match"
  run decoded_patch --request-path "$case/request.json" --settings-path "$case/settings.yaml" \
    --allow-context-aware --replay-host-capabilities-interactions "$case/replay.yml"
  echo "patch = ${output}"
  [ "$output" = "null" ]
}

@test "namespaceSelector: a failed lookup admits the Pod unchanged, with a warning" {
  local case="$GOLDEN/namespace-selector-namespace-not-found"
  run response --request-path "$case/request.json" --settings-path "$case/settings.yaml" \
    --allow-context-aware --replay-host-capabilities-interactions "$case/replay.yml"
  echo "output = ${output}"
  [ "$status" -eq 0 ]
  [ "$(expr "$output" : '.*"allowed":true.*')" -ne 0 ]
  [ "$(expr "$output" : '.*"patch".*')" -eq 0 ]
  echo "$output" | jq -e '.warnings | length == 1 and (.[0] | contains("could not be read for namespaceSelector") and contains("namespaces \"team-d\" not found"))'
}

@test "injectionStrategy.revision: the pinned ControllerRevision, read through a replayed lookup, is injected" {
  local case="$GOLDEN/pinned-revision-name"
  run decoded_patch --request-path "$case/request.json" --settings-path "$case/settings.yaml" \
    --allow-context-aware --replay-host-capabilities-interactions "$case/replay.yml"
  echo "patch = ${output}"
  [ "$status" -eq 0 ]
  # The revision's image (the settings say 7.16.3) and its name in the hash entry.
  echo "$output" | jq -e 'any(.[]; .op == "replace" and .path == "/spec/containers/0/image" and .value == "docker.elastic.co/beats/filebeat:7.16.2")'
  echo "$output" | jq -e 'any(.[]; .op == "add" and .path == "/metadata/annotations" and (.value["kruise.io/sidecarset-hash"] | fromjson | .filebeat.controllerRevision == "filebeat-6f7887fffd"))'
}

@test "injectionStrategy.revision: a missing ControllerRevision refuses the Pod, naming it" {
  local case="$GOLDEN/pinned-revision-not-found"
  run response --request-path "$case/request.json" --settings-path "$case/settings.yaml" \
    --allow-context-aware --replay-host-capabilities-interactions "$case/replay.yml"
  echo "output = ${output}"
  [ "$status" -eq 0 ]
  echo "$output" | jq -e '.allowed == false and .status.code == 500'
  echo "$output" | jq -e '.status.message | contains("injectionStrategy.revision.revisionName: cannot read ControllerRevision \"filebeat-7c9b8d6f5\" in namespace \"sidecarset-system\"")'
}

@test "a Pod UPDATE is never injected, even when the Pod matches" {
  local request="$BATS_TEST_TMPDIR/update.json"
  jq '.operation = "UPDATE" | .oldObject = .object | .options = {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"}' \
    "$GOLDEN/filebeat-story/request.json" >"$request"
  run response --request-path "$request" --settings-path "$GOLDEN/filebeat-story/settings.yaml"
  echo "output = ${output}"
  [ "$status" -eq 0 ]
  [ "$(expr "$output" : '.*"allowed":true.*')" -ne 0 ]
  [ "$(expr "$output" : '.*"patch".*')" -eq 0 ]
}
