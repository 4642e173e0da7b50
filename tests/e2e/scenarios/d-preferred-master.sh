#!/usr/bin/env bash
# (d, preferred-master mode) Node 1 has the higher priority: it is MASTER, loses the VIP when it
# crashes, and takes the VIP back when it returns.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario d-preferred-master "preferred master returns and takes the VIP back"
e2e_up "$E2E_TOPOLOGY_2" preferred-master
[ "$E2E_MASTER" = 1 ] || e2e_fail "node $E2E_MASTER is MASTER; the preferred master is node 1"
t0=$EPOCHREALTIME
e2e_keepalived_crash 1
e2e_expect_vip_on 2 "$t0" 30
e2e_failover_timeline "$t0" 2
away=$E2E_TIMELINE
t1=$EPOCHREALTIME
e2e_log "restarting node 1's keepalived"
e2e_keepalived_start 1
e2e_expect_vip_on 1 "$t1" 40
e2e_failover_timeline "$t1" 1
e2e_doctor_all # after the counts above: its probes are API calls too
e2e_pass "away: $away; back: node 1 MASTER +$(e2e_rel "$t1" "$(e2e_state_at 1 MASTER "$t1")")s after restart, landed +$(e2e_rel "$t1" "$(e2e_landed_at 1 "$t1")")s, outage $(e2e_ping_outage "$t1")s"
