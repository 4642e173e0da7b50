#!/usr/bin/env bash
# Installs what the failover rehearsal (scripts/demo.sh, tests/e2e/) and the tests that need root
# (crates/tcvip/tests/cli) need and is missing: keepalived (Debian's package), iproute2 (ip),
# iputils-ping (ping), procps (pgrep/ps), curl, strace, util-linux (unshare),
# prometheus-node-exporter (tests/e2e/node-exporter.sh scrapes the metrics file through it), jq
# (the HAVIP scenarios read fake-vpc's state) and nftables (the router's EIP NAT).
#
# Idempotent and quiet when nothing is missing. Installing needs root and apt-get; without them,
# and something missing, it fails with a message that names what is missing.
#
# Usage: scripts/e2e-deps.sh [--check]     (--check: only report, never install; exit 1 if missing)
set -euo pipefail

check_only=false
case "${1:-}" in
    --check) check_only=true ;;
    "") ;;
    -h | --help)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "e2e-deps: unknown argument: $1" >&2
        exit 2
        ;;
esac

# command -> Debian package that provides it
declare -A package_of=(
    [keepalived]=keepalived
    [ip]=iproute2
    [ping]=iputils-ping
    [pgrep]=procps
    [curl]=curl
    [strace]=strace
    [unshare]=util-linux
    [prometheus-node-exporter]=prometheus-node-exporter
    [jq]=jq
    [nft]=nftables
)

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=()
for cmd in "${!package_of[@]}"; do
    if ! have "$cmd"; then
        missing+=("${package_of[$cmd]}")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if $check_only; then
    echo "e2e-deps: missing packages: ${missing[*]}" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "e2e-deps: missing packages: ${missing[*]}; run as root (sudo $0) to install them" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "e2e-deps: missing packages: ${missing[*]}; no apt-get here: install them by hand" >&2
    exit 1
fi

echo "e2e-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A deadline on each apt step, so a stuck mirror fails the run instead of hanging it.
if ! timeout 600 apt-get update -qq >&2; then
    echo "e2e-deps: apt-get update failed" >&2
    exit 1
fi
# The packages must not start a keepalived or node_exporter of their own on the host: forbid service starts for the
# duration of the install (policy-rc.d exit 101), unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=true
fi
status=0
timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || status=$?
if $own_policy; then
    rm -f "$policy"
fi
if [ "$status" -ne 0 ]; then
    echo "e2e-deps: apt-get install ${missing[*]} failed (exit $status)" >&2
    exit 1
fi

for cmd in "${!package_of[@]}"; do
    if ! have "$cmd"; then
        echo "e2e-deps: ${package_of[$cmd]} installed but '$cmd' still not found" >&2
        exit 1
    fi
done
