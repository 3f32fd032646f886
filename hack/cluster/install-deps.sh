#!/usr/bin/env bash
# Install what hack/cluster/*.sh need on a fresh Debian machine (run as root,
# or with sudo available). Idempotent: it only installs what is missing.
# Extra arguments `COMMAND[:PACKAGE]` add tools to the same apt-get run (the
# package defaults to the command's name): hack/install-deps.sh passes what
# the rest of `make test` needs.
#
#   openssl, curl, ca-certificates, util-linux (flock), procps (pgrep/ps)
#       from Debian's packages
#   Go >= 1.26: must already be there (the polyglot machine ships it in
#       /usr/local/go; Debian bookworm's golang-go is 1.19, too old). Any
#       Go >= 1.21 also works: the go command then fetches the go1.26
#       toolchain from the Go module proxy by itself (GOTOOLCHAIN=auto).
#
# etcd and kube-apiserver are NOT installed from Debian: build-apiserver.sh
# builds both from the Go module proxy (Debian's etcd-server is 3.4.23, see
# README.md for why it is not used).
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
command -v ps >/dev/null 2>&1 || missing+=(procps)
for extra in "$@"; do
  command -v "${extra%%:*}" >/dev/null 2>&1 || missing+=("${extra#*:}")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${missing[*]} by hand"
  log "apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  die "Go not found: install Go >= 1.21 (1.26 preferred) and put it on PATH; Debian bookworm's golang-go (1.19) is too old"
fi
gov="$(go env GOVERSION)"
gov="${gov#go}"
IFS=. read -r gomaj gomin _ <<<"${gov}"
if [[ "${gomaj}" -lt 1 || ("${gomaj}" -eq 1 && "${gomin}" -lt 21) ]]; then
  die "Go ${gov} is too old: kubernetes 1.36 needs Go 1.26 (Go >= 1.21 can fetch it itself)"
fi
log "ok: openssl, curl, flock, go ${gov}${*:+, ${*%%:*}}"
