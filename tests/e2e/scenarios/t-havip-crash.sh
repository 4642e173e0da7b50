#!/usr/bin/env bash
# (t) A HAVIP: the VPC binds it to the node whose gratuitous ARP it saw last. A real crash of the
# master's keepalived: the peer becomes MASTER and announces the VIP, the VPC learns it after its
# learning delay, and tcvip verifies the binding with DescribeHaVips. No move call is made: a
# HAVIP is never migrated. Then the new master's whole node dies (keepalived crash and off the
# network): the client's outage is the whole failover, detection plus the VPC's learning.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario t-havip-crash "HAVIP: SIGKILL of the master's keepalived"
e2e_up "$E2E_TOPOLOGY_HAVIP" nopreempt
m=$E2E_MASTER
o=$((3 - m))
[ "$(e2e_havip_field eni)" = "${NODE_ENI[m]}" ] ||
    e2e_fail "DescribeHaVips does not show $E2E_HAVIP_ID bound to node $m's ${NODE_ENI[m]}"
# tcvip doctor passes on both nodes: the HAVIP exists, has the VIP's address, is in the nodes'
# subnet, and CAM allows DescribeHaVips; and it tells where the HAVIP is bound.
e2e_doctor_all
grep -q "$E2E_HAVIP_ID" "$RUN_DIR/n$m/doctor.out" || e2e_fail "tcvip doctor on node $m says nothing of $E2E_HAVIP_ID"
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
    grep -q "event=havip_bound vip=$E2E_VIP havip=$E2E_HAVIP_ID eni=${NODE_ENI[o]} " "$RUN_DIR/n$o/tcvip.log"

# The VPC followed node o's gratuitous ARP: the binding came after it became MASTER, and the
# learned ARP was its MAC's.
became=$(e2e_state_at "$o" MASTER "$t0")
landed=$(e2e_landed_at "$o" "$t0")
awk -v b="$became" -v l="$landed" 'BEGIN { exit !(l >= b) }' ||
    e2e_fail "the HAVIP was bound to node $o at $landed, before it became MASTER at $became"
learned=$(e2e_garps "$t0" | awk -v m="${NODE_MAC[o]}" 'tolower($3) == tolower(m) && $5 == "learned"' | wc -l)
[ "$learned" -ge 1 ] || e2e_fail "fake-vpc learned no gratuitous ARP from node $o ($(e2e_garps "$t0" | tr '\n' ';'))"
e2e_log "HAVIP $E2E_HAVIP_ID followed node $o's gratuitous ARP; $describes DescribeHaVips, no move call"
crash_timeline=$E2E_TIMELINE

# The old master comes back as BACKUP; then the new master's node dies.
e2e_keepalived_start "$m"
e2e_wait_until 30 "node $m back as BACKUP" e2e_is_state "$m" BACKUP
t1=$EPOCHREALTIME
e2e_keepalived_crash "$o"
e2e_node_unplug "$o"
e2e_log "node $o down"
e2e_expect_vip_on "$m" "$t1" 30
e2e_failover_timeline "$t1" "$m"
outage=$(e2e_ping_outage "$t1")
landed=$(e2e_rel "$t1" "$(e2e_landed_at "$m" "$t1")")
awk -v o="$outage" -v l="$landed" 'BEGIN { exit !(o > 1 && o < l + 1) }' ||
    e2e_fail "ping outage ${outage}s does not match a failover whose binding landed at +${landed}s"
writes=$(($(e2e_count_calls MigratePrivateIpAddress 0) + $(e2e_count_calls AssignPrivateIpAddresses 0)))
[ "$writes" -eq 0 ] || e2e_fail "$writes move call(s) for a HAVIP"
e2e_pass "crash: $crash_timeline; node down: $E2E_TIMELINE; 0 Migrate (learning delay ${E2E_HAVIP_LEARN_MS:-1000} ms)"
