#!/usr/bin/env bash
# (b) A real crash of the master's keepalived (SIGKILL of the VRRP child, then the parent): the
# peer becomes MASTER, moves the VIP in the cloud, and the client's pings follow. The dead
# node's NIC keeps the VIP (nothing runs there to remove it): only the cloud's placement counts.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario b-crash "SIGKILL of the master's keepalived"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
o=$((3 - m))
t0=$EPOCHREALTIME
e2e_log "crashing node $m's keepalived"
e2e_keepalived_crash "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
migrates=$(e2e_count_calls MigratePrivateIpAddress "$t0")
if [ "$migrates" -lt 1 ] || [ "$migrates" -gt 2 ]; then
    e2e_fail "$migrates Migrate calls for one failover"
fi
# The new master announced the VIP by gratuitous ARP when it became MASTER; the VPC ignores
# that: the client's pings reach it only once the cloud move has landed, and until then the old
# node (whose NIC still has the VIP) answers them.
became=$(e2e_state_at "$o" MASTER "$t0")
landed=$(e2e_landed_at "$o" "$t0")
first=$(e2e_first_reply_from "$o" "$t0")
if awk -v f="$first" -v l="$landed" 'BEGIN { exit !(f < l) }'; then
    e2e_fail "node $o answered the VIP at $first, before the move landed at $landed"
fi
garps=$(awk -v s="$t0" -v v="$E2E_VIP" '$1 >= s && index($0, "Sending gratuitous ARP on eth0 for " v)' "$RUN_DIR/n$o/keepalived.log" | wc -l)
[ "$garps" -gt 0 ] || e2e_fail "node $o's keepalived logged no gratuitous ARP for $E2E_VIP"
old_replies=$(e2e_replies_from "$m" "$became" "$landed")
e2e_log "node $o sent $garps gratuitous ARP(s); between them and the landing, node $m answered $old_replies pings; node $o's first answer came $(e2e_secs_between "$landed" "$first")s after the landing"
stray="no"
e2e_nic_has_vip "$m" && stray="yes (as expected: nothing runs there)"
e2e_log "the dead node's NIC still has the VIP: $stray"
e2e_pass "$E2E_TIMELINE, $migrates Migrate"
