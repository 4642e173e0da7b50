#!/usr/bin/env bash
# (b, whole node) The master node dies: its keepalived crashes and the node drops off the network
# (as a CVM that loses power). The client's outage is then the whole failover: detection by the
# peer, the API move, the landing. The node comes back as BACKUP and the VIP stays put.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario b-node-down "the master node dies (keepalived crash + off the network)"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
o=$((3 - m))
t0=$EPOCHREALTIME
e2e_keepalived_crash "$m"
e2e_node_unplug "$m"
e2e_log "node $m down"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
outage=$(e2e_ping_outage "$t0")
landed=$(e2e_rel "$t0" "$(e2e_landed_at "$o" "$t0")")
# The client is without service from the crash until the move lands (give or take a ping).
awk -v o="$outage" -v l="$landed" 'BEGIN { exit !(o > 1 && o < l + 1) }' ||
    e2e_fail "ping outage ${outage}s does not match a failover that landed at +${landed}s"
t1=$EPOCHREALTIME
e2e_node_plug "$m"
e2e_keepalived_start "$m"
e2e_wait_until 30 "node $m back as BACKUP" e2e_is_state "$m" BACKUP
e2e_expect_vip_on "$o" "$t1" 20
e2e_pass "$E2E_TIMELINE; node $m back as BACKUP, VIP stayed"
