#!/usr/bin/env bash
# (u) A HAVIP whose new master's gratuitous ARP is lost: the master node dies (keepalived crash
# and off the network) and the VPC ignores the peer's announcement (fake-vpc's ignore_garps
# fault), so the HAVIP stays bound to the dead node and the client gets no answer.
# tcvip on the new master sees in DescribeHaVips that the VPC did not follow within
# failover.havip_bind_timeout_ms, sends a gratuitous ARP itself, and the VPC binds the HAVIP to
# it, well before keepalived's own second announcement (vrrp_garp_master_delay, 5 s).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario u-havip-lost-garp "HAVIP: the new master's gratuitous ARP is lost; tcvip heals"
e2e_up "$E2E_TOPOLOGY_HAVIP" nopreempt
m=$E2E_MASTER
o=$((3 - m))
# The first master's second announcement (5 s after it became MASTER) must not use up the fault.
e2e_wait_until 15 "node $m's keepalived sent its second gratuitous ARP" e2e_garp_lines_at_least "$m" 2

e2e_havip_ignore_garps 1
t0=$EPOCHREALTIME
e2e_log "the VPC ignores the next gratuitous ARP; node $m goes down"
e2e_keepalived_crash "$m"
e2e_node_unplug "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"

became=$(e2e_state_at "$o" MASTER "$t0")
landed=$(e2e_landed_at "$o" "$t0")
garps=$(e2e_garps "$t0")
ignored=$(awk -v m="${NODE_MAC[o]}" 'tolower($3) == tolower(m) && $5 == "ignored"' <<<"$garps" | wc -l)
[ "$ignored" -ge 1 ] || e2e_fail "no gratuitous ARP of node $o was ignored: the fault did not apply ($garps)"
sent=$(grep -c "event=havip_garp vip=$E2E_VIP " "$RUN_DIR/n$o/tcvip.log" || true)
[ "$sent" -ge 1 ] || e2e_fail "node $o's tcvip logged no gratuitous ARP of its own (havip_garp)"
# ... and its run saw the binding after them (garps=N counts tcvip's own).
e2e_wait_until 15 "node $o's tcvip confirmed the binding after its own gratuitous ARP" \
    grep -Eq "event=havip_bound vip=$E2E_VIP havip=$E2E_HAVIP_ID eni=${NODE_ENI[o]} ms=[0-9]+ garps=[1-9]" "$RUN_DIR/n$o/tcvip.log"
# Healed by tcvip, not by keepalived's second set 5 s after the transition.
healed=$(e2e_secs_between "$became" "$landed")
awk -v h="$healed" 'BEGIN { exit !(h < 4.8) }' ||
    e2e_fail "the HAVIP was bound to node $o ${healed}s after it became MASTER: not before keepalived's own second gratuitous ARP (5 s)"
writes=$(($(e2e_count_calls MigratePrivateIpAddress 0) + $(e2e_count_calls AssignPrivateIpAddresses 0)))
[ "$writes" -eq 0 ] || e2e_fail "$writes move call(s) for a HAVIP"
e2e_log "fake-vpc's gratuitous ARPs since the crash: $(tr '\n' ';' <<<"$garps")"
e2e_pass "$E2E_TIMELINE, bound ${healed}s after MASTER; $ignored ignored gratuitous ARP(s), $sent sent by tcvip"
