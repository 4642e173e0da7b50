#!/usr/bin/env bash
# Measures tcvip against the performance budgets of DESIGN.md: builds release binaries, starts
# fake-vpc in a network namespace of its own (loopback only, the VIP on a veth inside it), and
# prints a table of median, p95, peak RSS and API calls with each budget marked met or missed.
# First comes the round-trip table (scripts/bench_rtt.py): fake-vpc over TLS behind a relay that
# adds 10 ms each way, FIFO and fork mode side by side; TCVIP_BENCH_ONLY=rtt runs only that one
# (about 3 minutes with the build), TCVIP_BENCH_IDLE_S sets its idle window (default 60 s).
# Needs root (for the namespace). Exits non-zero when a budget is missed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: needs root to create its network namespace (run: sudo scripts/bench.sh)" >&2
    exit 1
fi
for tool in ip python3 pgrep; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is missing" >&2; exit 1; }
done

cargo build --release --locked -p tcvip -p fake-vpc --bins --example peak_rss
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

ns="tcvip-bench-$$"
work=$(mktemp -d /dev/shm/tcvip-bench.XXXXXX)   # tmpfs, like /run/tcvip
cleanup() {
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add tcv0 type veth peer name tcv1
ip -n "$ns" addr add 198.18.1.11/24 dev tcv0
ip -n "$ns" addr add 198.18.1.100/32 dev tcv0
ip -n "$ns" link set tcv0 up
ip -n "$ns" link set tcv1 up

ip netns exec "$ns" python3 scripts/bench.py "$bin" "$work"
