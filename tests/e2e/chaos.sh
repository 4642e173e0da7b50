#!/usr/bin/env bash
# The chaos suite: the rehearsal (real keepalived, fake-vpc, tcvip as installed) through a
# random but reproducible schedule of faults per seed — VRRP cut both ways or one way, keepalived
# SIGKILL / SIGSTOP+SIGCONT / restart / reload, a node unplugged or dead, API throttling, HTTP
# 500, garbage, delays, dropped connections, FAILED tasks, landing lag changes, metadata down,
# role credentials expiring — then every fault undone and a checker over the recorded timeline:
#   converged    exactly one holder, the MASTER (cloud, route, NIC, the client's pings), within
#                detection + landing lag + 3 s of the faults' end, and it stays so
#   moves        no accepted move while a single MASTER held the VIP
#   deadlines    no tcvip process alive past its deadline
#   panics       no panic
#   state-files  no state record lost or corrupt, none behind keepalived at the end
#   api-rate     API calls within the account's per-action rate limits
#
# Usage: sudo tests/e2e/chaos.sh [--seed N]... [--seeds A..B] [--duration S] [--nodes 2|3]
#                                [--soak] [--no-build]
#   --seed N      one seed (repeatable); default: seeds 1..3
#   --seeds A..B  a range of seeds (or a list: A,B,C)
#   --duration S  seconds of faults per seed (default 60; at least 15)
#   --nodes N     2 or 3 nodes for every seed (default: the seed chooses)
#   --soak        longer: seeds 1..20 (unless given) and 300 s each (unless --duration given)
#   --no-build    use the debug binaries already built
# The same seed, duration and nodes always give the same schedule (printed first). Prints a
# table per seed and a summary with the seeds that failed; exits non-zero if any did.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

seeds=()
duration=""
nodes=""
soak=false
build=true
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --seed) [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "chaos: --seed wants a non-negative integer" >&2; exit 2; }
            seeds+=("$2"); shift 2 ;;
        --seeds)
            if [[ "${2:-}" =~ ^([0-9]+)\.\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ]; then
                for ((s = BASH_REMATCH[1]; s <= BASH_REMATCH[2]; s++)); do seeds+=("$s"); done
            elif [[ "${2:-}" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
                IFS=, read -r -a list <<<"$2"
                seeds+=("${list[@]}")
            else
                echo "chaos: --seeds wants A..B with A <= B, or A,B,C (e.g. --seeds 1..10, --seeds 3,6,10)" >&2; exit 2
            fi
            shift 2 ;;
        --duration)
            if ! [[ "${2:-}" =~ ^[0-9]+$ ]] || [ "$2" -lt 15 ]; then
                echo "chaos: --duration wants seconds, at least 15" >&2; exit 2
            fi
            duration=$2; shift 2 ;;
        --nodes) [[ "${2:-}" =~ ^[23]$ ]] || { echo "chaos: --nodes wants 2 or 3" >&2; exit 2; }
            nodes=$2; shift 2 ;;
        --soak) soak=true; shift ;;
        --no-build) build=false; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "chaos: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ ${#seeds[@]} -eq 0 ]; then
    if $soak; then mapfile -t seeds < <(seq 1 20); else seeds=(1 2 3); fi
fi
[ -n "$duration" ] || { if $soak; then duration=300; else duration=60; fi; }

if [ "$(id -u)" -ne 0 ]; then
    echo "chaos: FAILED: the rehearsal needs root (network namespaces, keepalived); run: sudo $0" >&2
    exit 1
fi
"$repo/scripts/e2e-deps.sh" || { echo "chaos: FAILED: keepalived, iproute2, ping or curl missing and not installable" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$repo/target}"
if $build; then
    echo "== chaos: cargo build --locked -p tcvip -p fake-vpc --bins" >&2
    (cd "$repo" && cargo build --locked -p tcvip -p fake-vpc --bins)
fi
export E2E_BIN_FROM="${E2E_BIN_FROM:-$target/debug}"
export E2E_FAKE_VPC_BIN="${E2E_FAKE_VPC_BIN:-$target/debug/fake-vpc}"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
trap 'echo "chaos: interrupted" >&2; exit 130' INT TERM
export CHAOS_RESULTS="$results"
start=$SECONDS
for seed in "${seeds[@]}"; do
    before=$(wc -l <"$results")
    # The faults, the undo and the observation (bound + 30 s at most), the set-up: bounded.
    args=("$seed" "$duration")
    [ -n "$nodes" ] && args+=("$nodes")
    timeout --foreground -s TERM -k 20 $((duration + 180)) "$here/chaos/seed.sh" "${args[@]}" || true
    if [ "$(wc -l <"$results")" -eq "$before" ]; then
        echo "$seed|FAIL|?|?|?|?|?|ended without a result (see its log)" >>"$results"
    fi
done

echo
echo "chaos summary ($((SECONDS - start)) s, ${duration} s of faults per seed):"
printf '%-6s %-6s %-5s %-9s %-7s %-16s %-6s %s\n' seed result nodes creds faults converged moves "failed checks"
awk -F'|' '{ printf "%-6s %-6s %-5s %-9s %-7s %-16s %-6s %s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$results"
bad=$(awk -F'|' '$2 != "PASS" { printf "%s%s", sep, $1; sep = " " }' "$results")
passed=$(awk -F'|' '$2 == "PASS"' "$results" | wc -l)
failed=$(awk -F'|' '$2 != "PASS"' "$results" | wc -l)
echo "chaos: $passed passed, $failed failed${bad:+ (failed seeds: $bad; rerun one with: sudo $0 --seed N --duration $duration${nodes:+ --nodes $nodes})}"
[ "$failed" -eq 0 ]
