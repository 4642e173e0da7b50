#!/usr/bin/env bash
# The end-to-end failover rehearsal: real keepalived (Debian's) on simulated nodes in network
# namespaces, fake-vpc as the VPC, the tcvip binaries as installed by scripts/install.sh.
#
# Usage: sudo tests/e2e/run.sh [--release] [--no-build] [--mode fork|fifo] [SCENARIO...]
#   SCENARIO   a name or its leading letter(s) from tests/e2e/scenarios/ (default: all), e.g. b g
#   --release  build and test release binaries (default: debug, which cargo test already built)
#   --no-build use the binaries already built
#   --mode     fork (default; or $E2E_MODE): notify-action forked per event; fifo: keepalived's
#              notify FIFO and its reader (keepalived-fifo.conf), nopreempt scenarios only
# Needs root; installs keepalived & co. when missing (scripts/e2e-deps.sh). When it cannot run,
# it fails loudly: it never passes without having run. Ends with a summary table and exits
# non-zero if any scenario failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
profile=debug
build=true
wanted=()
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release; shift ;;
        --no-build) build=false; shift ;;
        --mode) E2E_MODE=${2:-}; shift 2 || shift ;;
        --mode=*) E2E_MODE=${1#--mode=}; shift ;;
        -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) wanted+=("$1"); shift ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "e2e: FAILED: the failover rehearsal needs root (network namespaces, keepalived); run: sudo $0" >&2
    exit 1
fi
"$repo/scripts/e2e-deps.sh" || {
    echo "e2e: FAILED: keepalived, iproute2, ping or curl missing and not installable" >&2
    exit 1
}

export E2E_MODE=${E2E_MODE:-fork}
case "$E2E_MODE" in
    fork | fifo) ;;
    *) echo "run.sh: --mode is fork or fifo, not '$E2E_MODE'" >&2; exit 2 ;;
esac

scenarios=()
for f in "$here"/scenarios/*.sh; do
    name=$(basename "$f" .sh)
    if [ ${#wanted[@]} -eq 0 ]; then
        scenarios+=("$f")
        continue
    fi
    for w in "${wanted[@]}"; do
        if [ "$name" = "$w" ] || [[ "$name" == "$w"-* ]]; then
            scenarios+=("$f")
            break
        fi
    done
done
if [ ${#scenarios[@]} -eq 0 ]; then
    echo "e2e: FAILED: no scenario matches: ${wanted[*]}" >&2
    exit 1
fi

target="${CARGO_TARGET_DIR:-$repo/target}"
if $build; then
    flags=(--locked -p tcvip -p fake-vpc --bins)
    [ "$profile" = release ] && flags+=(--release)
    echo "== e2e: cargo build ${flags[*]}" >&2
    (cd "$repo" && cargo build "${flags[@]}")
fi
export E2E_BIN_FROM="${E2E_BIN_FROM:-$target/$profile}"
export E2E_FAKE_VPC_BIN="${E2E_FAKE_VPC_BIN:-$target/$profile/fake-vpc}"
for b in "$E2E_BIN_FROM"/{notify-action,vip-migrate,vip-query,check-self,tcvip} "$E2E_FAKE_VPC_BIN"; do
    if [ ! -x "$b" ]; then
        echo "e2e: FAILED: no $b (build it, or drop --no-build)" >&2
        exit 1
    fi
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
# Ctrl-C reaches the running scenario too, which tears its rehearsal down; then stop here.
trap 'echo "e2e: interrupted" >&2; exit 130' INT TERM
export E2E_RESULTS="$results"

start=$SECONDS
echo "== e2e: keepalived examples" >&2
if "$here/validate-examples.sh"; then
    echo "examples|PASS|-|keepalived -t accepts every shipped example" >>"$results"
else
    echo "examples|FAIL|-|keepalived -t rejected a shipped example" >>"$results"
fi
for f in "${scenarios[@]}"; do
    name=$(basename "$f" .sh)
    echo >&2
    echo "== e2e: $name" >&2
    before=$(wc -l <"$results")
    # A deadline on each scenario (300 s, or what its "# e2e-timeout: N" line says); TERM lets
    # it tear everything down.
    limit=$(awk '/^# e2e-timeout: [0-9]+$/ { print $3; exit }' "$f")
    timeout --foreground -s TERM -k 20 "${limit:-300}" "$f" || true
    if [ "$(wc -l <"$results")" -eq "$before" ]; then
        echo "$name|FAIL|-|ended without a result (timeout or crash)" >>"$results"
    fi
done

echo
echo "e2e summary ($((SECONDS - start)) s, $profile binaries, $E2E_MODE mode):"
printf '%-20s %-6s %8s  %s\n' scenario result seconds timings
awk -F'|' '{ printf "%-20s %-6s %8s  %s\n", $1, $2, $3, $4 }' "$results"
passed=$(awk -F'|' '$2 == "PASS"' "$results" | wc -l)
failed=$(awk -F'|' '$2 != "PASS"' "$results" | wc -l)
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
