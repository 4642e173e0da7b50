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
stray="no"
e2e_nic_has_vip "$m" && stray="yes (as expected: nothing runs there)"
e2e_log "the dead node's NIC still has the VIP: $stray"
e2e_pass "$E2E_TIMELINE, $migrates Migrate"
