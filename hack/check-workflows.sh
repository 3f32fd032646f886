#!/usr/bin/env bash
# The GitHub workflows' checks (`make workflow-lint`):
#   1. actionlint (built by hack/tools/build-tools.sh, `make tools`) over every workflow; it runs
#      ShellCheck on their `run:` scripts, and a missing ShellCheck fails the check rather than
#      weakening it;
#   2. every `uses:` pinned by a full commit SHA with its version in a comment
#      (`owner/repo/path@<40 hex> # vX.Y.Z`; `docker://` images by sha256 digest; local `./` paths
#      are fine), the form Dependabot keeps fresh (.github/dependabot.yml);
#   3. least privilege: a workflow without top-level `permissions` gives each job its own.
# Checks 2 and 3 also run on bad samples built in below, which must fail: a check that stopped
# finding anything would fail too.
#
#   hack/check-workflows.sh [DIR]    DIR: the workflows (default .github/workflows)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[check-workflows.sh] %s\n' "$*" >&2; }
die() {
  printf '[check-workflows.sh] error: %s\n' "$*" >&2
  exit 1
}

dir="${1:-.github/workflows}"
[[ -d "${dir}" ]] || die "no directory ${dir}"
mapfile -t files < <(find "${dir}" -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
[[ ${#files[@]} -gt 0 ]] || die "no workflow in ${dir}"

actionlint="$(hack/tools/build-tools.sh --print | awk '$1 == "actionlint" { print $2 }')"
[[ -n "${actionlint}" ]] || die "hack/tools/build-tools.sh --print names no actionlint"
[[ -x "${actionlint}" ]] || die "actionlint is not built (${actionlint}): run \`make tools\` (hack/tools/build-tools.sh)"
shellcheck="$(command -v shellcheck || true)"
[[ -n "${shellcheck}" ]] || die "shellcheck not found: apt-get install shellcheck (actionlint checks the workflows' run: scripts with it)"

# Checks 2 and 3, on the files given; prints one line per problem, exits 1 if any. A YAML-lite
# reading of block-style YAML (what the workflows use): it skips comments and the bodies of block
# scalars (`run: |`), so a `uses:` in a script's text is not taken for a step's.
check_pins_and_permissions() {
  # No regex intervals ({40}): mawk, Debian's default awk, has none.
  awk '
    function indent_of(s) { match(s, /^ */); return RLENGTH }
    function hex_of_length(s, n) { return length(s) == n && s ~ /^[0-9a-f]+$/ }
    function problem(msg) { printf "%s:%d: %s\n", FILENAME, FNR, msg; bad = 1 }
    function finish_file(   j) {
      if (FILENAME_prev == "") return
      if (!top_permissions) {
        for (j = 1; j <= njobs; j++) {
          if (!job_permissions[j]) {
            printf "%s:%d: job %s has no permissions (and the workflow none at the top level)\n", FILENAME_prev, job_line[j], job_name[j]
            bad = 1
          }
        }
      }
    }
    FNR == 1 {
      finish_file()
      FILENAME_prev = FILENAME
      top_permissions = 0; in_jobs = 0; job_indent = -1; body_indent = -1; njobs = 0
      in_block = 0; block_indent = 0
      delete job_permissions; delete job_name; delete job_line
    }
    {
      line = $0
      sub(/\r$/, "", line)
      if (line ~ /^[[:space:]]*(#.*)?$/) next
      ind = indent_of(line)
      if (in_block) {
        if (ind > block_indent) next
        in_block = 0
      }
      content = substr(line, ind + 1)
      key_indent = ind
      while (match(content, /^-[[:space:]]+/)) {
        key_indent += RLENGTH
        content = substr(content, RLENGTH + 1)
      }
      if (content ~ /^[^#]*:[[:space:]]+[|>][-+0-9]*[[:space:]]*(#.*)?$/) {
        in_block = 1
        block_indent = key_indent
      }

      if (ind == 0) {
        in_jobs = (content ~ /^jobs:/)
        if (content ~ /^permissions:/) top_permissions = 1
        job_indent = -1
      } else if (in_jobs) {
        if (job_indent < 0) job_indent = key_indent
        if (key_indent == job_indent && content ~ /^[^:#[:space:]]+:/) {
          njobs++
          job_name[njobs] = content
          sub(/:.*/, "", job_name[njobs])
          job_line[njobs] = FNR
          job_permissions[njobs] = 0
          body_indent = -1
        } else if (key_indent > job_indent && njobs > 0) {
          if (body_indent < 0) body_indent = key_indent
          if (key_indent == body_indent && content ~ /^permissions:/) job_permissions[njobs] = 1
        }
      }

      if (content ~ /^uses:/) {
        value = content
        sub(/^uses:[[:space:]]*/, "", value)
        comment = ""
        if (match(value, /[[:space:]]+#.*$/)) {
          comment = substr(value, RSTART)
          value = substr(value, 1, RSTART - 1)
        }
        gsub(/^["\047]|["\047]$/, "", value)
        ref = value
        sub(/^[^@]*@/, "", ref)
        if (value ~ /^\.\//) {
          # A local action or reusable workflow: pinned by this very commit.
        } else if (value ~ /^docker:\/\//) {
          if (!(value ~ /@sha256:/ && hex_of_length(substr(ref, 8), 64))) {
            problem("uses: " value " is not pinned by sha256 digest")
          }
        } else if (value !~ /^[^@[:space:]]+@/ || !hex_of_length(ref, 40)) {
          problem("uses: " value " is not pinned by a full commit SHA (owner/repo@<40 hex> # vX.Y.Z)")
        } else if (comment !~ /^[[:space:]]+#[[:space:]]*v?[0-9]/) {
          problem("uses: " value " has no version comment (# vX.Y.Z) after its SHA")
        }
      }
    }
    END { finish_file(); exit bad }
  ' "$@"
}

failed=0

log "actionlint $("${actionlint}" -version | head -n 1) with $("${shellcheck}" --version | sed -n 's/^version: /shellcheck /p') on ${#files[@]} workflows in ${dir}"
if ! "${actionlint}" -shellcheck "${shellcheck}" -pyflakes= "${files[@]}"; then
  log "actionlint found problems (above)"
  failed=1
fi

if ! check_pins_and_permissions "${files[@]}"; then
  log "unpinned actions or jobs without permissions (above)"
  failed=1
fi

# The checks above must be able to fail: each sample must be refused.
samples="$(mktemp -d)"
trap 'rm -rf "${samples}"' EXIT
cat >"${samples}/tag-ref.yml" <<'EOF'
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - run: |
          echo "uses: actions/checkout@v4 in a script is only text"
      - uses: actions/checkout@v4
EOF
cat >"${samples}/no-comment.yml" <<'EOF'
on: push
permissions: {}
jobs:
  a:
    permissions:
      contents: read
    uses: owner/repo/.github/workflows/w.yml@3d3c42e5aac5ba805825da76410c181273ba90b1
EOF
cat >"${samples}/docker-tag.yml" <<'EOF'
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions: {}
    steps:
      - uses: docker://alpine:3
EOF
cat >"${samples}/no-permissions.yml" <<'EOF'
on: push
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
  b:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "permissions: none"
EOF
for sample in "${samples}"/*.yml; do
  if check_pins_and_permissions "${sample}" >/dev/null; then
    log "self-test: $(basename "${sample}") passed the pin/permissions check, which must refuse it"
    failed=1
  fi
done
cat >"${samples}/good.yml" <<'EOF'
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
      - uses: ./.github/actions/local
      - run: |
          echo "uses: not/checked@main"
EOF
if ! check_pins_and_permissions "${samples}/good.yml"; then
  log "self-test: good.yml was refused by the pin/permissions check"
  failed=1
fi

if [[ ${failed} -ne 0 ]]; then
  die "workflow checks failed"
fi
log "ok: actionlint, pins and permissions (${#files[@]} workflows)"
