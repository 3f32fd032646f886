#!/usr/bin/env bash
# Builds policy.wasm and the no-op policy under variants of the release profile, one setting changed
# at a time from the chosen one, and prints per variant: policy.wasm's size and the wasm bench's
# medians (policy and no-op, Filebeat Pod and non-matching Pod) in a Markdown table.
#
#   benches/profiles.sh                 # every variant (about 3 minutes each on 2 cores)
#   benches/profiles.sh opt-level=z     # some of them
#
# Variants are CARGO_PROFILE_RELEASE_* overrides; the chosen profile is Cargo.toml's [profile.release].
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out="$target/profiles"
mkdir -p "$out"

all=(chosen lto=thin lto=off codegen-units=16 opt-level=s opt-level=3 opt-level=2 strip=false panic=unwind)
variants=("${@:-${all[@]}}")

# The bench's criterion arguments: shorter than the defaults, enough for a stable median here.
crit=(--warm-up-time 1 --measurement-time 4)

echo "| variant | policy.wasm bytes | policy filebeat | no-op filebeat | ratio | policy no-match | no-op no-match | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for v in "${variants[@]}"; do
	envs=()
	if [ "$v" != chosen ]; then
		key=${v%%=*} val=${v#*=}
		key=$(echo "$key" | tr 'a-z-' 'A-Z_')
		[ "$val" = off ] && val=false
		envs=("CARGO_PROFILE_RELEASE_$key=$val")
	fi
	dir="$out/$v"
	mkdir -p "$dir"
	if ! env "${envs[@]}" cargo build --locked --target wasm32-wasip1 --release \
		-p sidecarset-policy -p noop-policy >"$dir/build.log" 2>&1; then
		echo "| $v | does not build: $(grep -m1 '^error' "$dir/build.log") | | | | | | |"
		continue
	fi
	cp "$target/wasm32-wasip1/release/sidecarset_policy.wasm" "$dir/policy.wasm"
	cp "$target/wasm32-wasip1/release/noop_policy.wasm" "$dir/noop.wasm"
	POLICY_WASM="$dir/policy.wasm" NOOP_POLICY_WASM="$dir/noop.wasm" \
		cargo bench --locked --bench wasm -- "${crit[@]}" >"$dir/bench.log" 2>&1
	# Rows of the bench's ratio table: | label: wasm/policy-x | median | wasm/noop-x | median | ratio | goal |
	row() { grep -F "wasm/policy-$1 |" "$dir/bench.log" | awk -F'|' '{gsub(/ /,"",$3); gsub(/ /,"",$5); gsub(/ /,"",$6); print $3" | "$5" | "$6}'; }
	echo "| $v | $(stat -c %s "$dir/policy.wasm") | $(row filebeat) | $(row no-match) |"
done
