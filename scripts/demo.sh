#!/usr/bin/env bash
# The failover rehearsal, on this machine, in a minute (run as root):
#   two simulated CVM nodes (network namespaces) running Debian's keepalived with tcvip wired in
#   exactly as keepalived-examples/keepalived-nopreempt.conf ships, a simulated VPC (fake-vpc:
#   the API and the metadata service; it routes the VIP only to the node whose ENI holds it,
#   gratuitous ARP changes nothing), and a client pinging the VIP 20 times a second.
#
#   election -> the VIP on the master -> the master's keepalived killed (a real crash: the VRRP
#   process first, then the parent) -> the peer becomes MASTER and moves the VIP through the API
#   -> the old master comes back (BACKUP: nopreempt) -> a timeline of the failover.
#
# Usage: sudo scripts/demo.sh [--power-off] [--havip]
#   --power-off  also take the old master off the network when killing it (a node that dies,
#                not only its keepalived), so that the client sees the real outage.
#   --havip      the VIP is a HAVIP (kind = "havip"): the VPC binds it to the node whose
#                gratuitous ARP it saw last, after a 1 s learning delay; tcvip moves nothing and
#                confirms the binding with DescribeHaVips.
# Installs what is missing (keepalived, iproute2, ...) with apt-get, builds the release binaries
# (cargo), and leaves nothing behind. Exits 0 only if the VIP ended where it should.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
power_off=false
havip=false
for arg in "$@"; do
    case "$arg" in
        --power-off) power_off=true ;;
        --havip) havip=true ;;
        -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown argument $arg (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root (network namespaces, keepalived): sudo $0" >&2
    exit 1
fi
"$repo/scripts/e2e-deps.sh"
command -v cargo >/dev/null 2>&1 || {
    echo "demo: cargo not found: install Rust (rustup) to build the binaries" >&2
    exit 1
}
echo "demo: building release binaries (cargo build --release -p tcvip -p fake-vpc --locked)" >&2
(cd "$repo" && cargo build --release --locked -p tcvip -p fake-vpc --bins)
target="${CARGO_TARGET_DIR:-$repo/target}/release"
export E2E_BIN_FROM="$target" E2E_FAKE_VPC_BIN="$target/fake-vpc"

# shellcheck source=tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"
e2e_init

e2e_log "setting up: a VPC router with fake-vpc, two nodes, a client; keepalived on both nodes"
topology=$E2E_TOPOLOGY_2
$havip && topology=$E2E_TOPOLOGY_HAVIP
e2e_up "$topology" nopreempt
start=$(e2e_mark_time start)
m=$E2E_MASTER
o=$((3 - m))
elected=$(e2e_state_at "$m" MASTER "$start")
first_landed=$(e2e_landed_at "$m" "$start")

t0=$EPOCHREALTIME
if $power_off; then
    e2e_log "node $m dies: keepalived killed and the node taken off the network"
    e2e_keepalived_crash "$m"
    e2e_node_unplug "$m"
else
    e2e_log "killing node $m's keepalived (SIGKILL: the VRRP process, then the parent)"
    e2e_keepalived_crash "$m"
fi
e2e_expect_vip_on "$o" "$t0" 60
e2e_failover_timeline "$t0" "$o"
peer_master=$(e2e_state_at "$o" MASTER "$t0")
migrate=$(e2e_first_call MigratePrivateIpAddress "$t0")
landed=$(e2e_landed_at "$o" "$t0")
outage=$(e2e_ping_outage "$t0")

t1=$EPOCHREALTIME
e2e_log "bringing node $m back"
if $power_off; then
    e2e_node_plug "$m"
fi
e2e_keepalived_start "$m"
e2e_wait_until 30 "node $m back as BACKUP" e2e_is_state "$m" BACKUP
back=$(e2e_state_at "$m" BACKUP "$t1")
e2e_hold 6 "node $o stays MASTER" e2e_roles_are "$o" "$m"
e2e_expect_vip_on "$o" "$t1" 20
moves_back=$(e2e_count_calls MigratePrivateIpAddress "$t1")
[ "$moves_back" -eq 0 ] || e2e_fail "the VIP was moved again ($moves_back calls) when node $m returned"

# T-relative times as "+3.41" / "-8.12" ("?" when unknown).
rel() {
    local r
    r=$(e2e_rel "$t0" "$1")
    case "$r" in -* | "?") echo "$r" ;; *) echo "+$r" ;; esac
}
echo
echo "tcvip failover rehearsal — timeline (T = node $m's keepalived killed)"
printf '  %10s  keepalived started on both nodes\n' "T$(rel "$start")s"
printf '  %10s  node %s elected MASTER\n' "T$(rel "$elected")s" "$m"
if [ -n "$first_landed" ]; then
    printf '  %10s  VIP landed on %s (node %s)\n' "T$(rel "$first_landed")s" "${NODE_ENI[m]}" "$m"
fi
printf '  %10s  node %s: keepalived killed%s\n' T+0.00s "$m" "$($power_off && echo ", node off the network")"
printf '  %10s  node %s became MASTER\n' "T$(rel "$peer_master")s" "$o"
if $havip; then
    printf '  %10s  HAVIP %s bound to %s (its gratuitous ARP learned): the VPC routes %s to node %s\n' \
        "T$(rel "$landed")s" "$E2E_HAVIP_ID" "${NODE_ENI[o]}" "$E2E_VIP" "$o"
else
    printf '  %10s  MigratePrivateIpAddress received by the VPC API\n' "T$(rel "$migrate")s"
    printf '  %10s  VIP landed on %s: the VPC routes %s to node %s\n' "T$(rel "$landed")s" "${NODE_ENI[o]}" "$E2E_VIP" "$o"
fi
printf '  %10s  node %s back, BACKUP (nopreempt): the VIP stays on node %s\n' "T$(rel "$back")s" "$m" "$o"
echo "  client ping outage: ${outage}s$($power_off || echo " (the old master answers until the VPC follows: its NIC keeps the VIP)")"
if $havip; then
    echo "  MigratePrivateIpAddress calls: $(e2e_count_calls MigratePrivateIpAddress) (a HAVIP is never moved); DescribeHaVips: $(e2e_count_calls DescribeHaVips)"
else
    echo "  MigratePrivateIpAddress calls: $(e2e_count_calls MigratePrivateIpAddress) in all, $(e2e_moves "$start")"
fi
echo "result: VIP on node $o (${NODE_ENI[o]}) in the cloud, the router, its NIC and the client's pings: OK"
