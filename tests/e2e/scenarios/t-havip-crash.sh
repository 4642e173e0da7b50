#!/usr/bin/env bash
# (t) A HAVIP: the VPC binds it to the node whose gratuitous ARP it saw last. A real crash of the
# master's keepalived: the peer becomes MASTER and announces the VIP, the VPC learns it after its
# learning delay, and tcvip verifies the binding with DescribeHaVips. No move call is made: a
# HAVIP is never migrated.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario t-havip-crash "HAVIP: SIGKILL of the master's keepalived"
e2e_up "$E2E_TOPOLOGY_HAVIP" nopreempt
m=$E2E_MASTER
o=$((3 - m))
[ "$(e2e_havip_field eni)" = "${NODE_ENI[m]}" ] ||
    e2e_fail "DescribeHaVips does not show $E2E_HAVIP_ID bound to node $m's ${NODE_ENI[m]}"
t0=$EPOCHREALTIME
e2e_log "crashing node $m's keepalived"
e2e_keepalived_crash "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"

writes=$(($(e2e_count_calls MigratePrivateIpAddress 0) + $(e2e_count_calls AssignPrivateIpAddresses 0)))
[ "$writes" -eq 0 ] || e2e_fail "$writes MigratePrivateIpAddress/AssignPrivateIpAddresses call(s) for a HAVIP"
describes=$(e2e_count_calls DescribeHaVips "$t0")
[ "$describes" -ge 1 ] || e2e_fail "nobody asked DescribeHaVips whether the HAVIP followed"
# The new master's vip-migrate saw the binding: its outcome is in its log.
e2e_wait_until 15 "node $o's tcvip confirmed the binding" \
    grep -q "bound to ${NODE_ENI[o]}" "$RUN_DIR/n$o/tcvip.log"

# The VPC followed node o's gratuitous ARP: the binding came after it became MASTER, and the
# learned ARP was its MAC's.
became=$(e2e_state_at "$o" MASTER "$t0")
landed=$(e2e_landed_at "$o" "$t0")
awk -v b="$became" -v l="$landed" 'BEGIN { exit !(l >= b) }' ||
    e2e_fail "the HAVIP was bound to node $o at $landed, before it became MASTER at $became"
learned=$(e2e_garps "$t0" | awk -v m="${NODE_MAC[o]}" 'tolower($3) == tolower(m) && $5 == "learned"' | wc -l)
[ "$learned" -ge 1 ] || e2e_fail "fake-vpc learned no gratuitous ARP from node $o ($(e2e_garps "$t0" | tr '\n' ';'))"
outage=$(e2e_ping_outage "$t0")
e2e_log "HAVIP $E2E_HAVIP_ID followed node $o's gratuitous ARP; $describes DescribeHaVips, no move call"
e2e_pass "$E2E_TIMELINE, 0 Migrate, $describes DescribeHaVips (learning delay ${E2E_HAVIP_LEARN_MS:-1000} ms)"
