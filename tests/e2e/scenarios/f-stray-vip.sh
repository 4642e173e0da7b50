#!/usr/bin/env bash
# (f) A stray VIP on the backup's NIC (as a crashed master leaves behind) is removed by
# check-self, without any cloud write, without restarting keepalived, without disturbing the
# master.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario f-stray-vip "stray VIP on the backup's NIC removed by check-self"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
b=$((3 - m))
pid_before=$(cat "$RUN_DIR/n$b/keepalived.pid")
t0=$EPOCHREALTIME
e2e_in "n$b" ip addr add "$E2E_VIP/32" dev eth0
e2e_log "added $E2E_VIP to node $b's eth0 (node $b is BACKUP)"
# check-self runs every 2 s (the examples' interval): a few intervals are plenty.
e2e_wait_until 15 "check-self removes the stray VIP from node $b" e2e_not e2e_nic_has_vip "$b"
removed=$(e2e_secs_between "$t0" "$EPOCHREALTIME")
[ "$(cat "$RUN_DIR/n$b/keepalived.pid")" = "$pid_before" ] || e2e_fail "node $b's keepalived was restarted"
e2e_is_state "$b" BACKUP || e2e_fail "node $b is $(e2e_vrrp_state "$b"), not BACKUP"
e2e_expect_vip_on "$m" "$t0" 5
writes=$(e2e_calls "" "$t0" | awk '$2 ~ /^(Migrate|Assign|Unassign)/' | wc -l)
[ "$writes" -eq 0 ] || e2e_fail "$writes cloud write calls for a local stray VIP"
e2e_pass "stray VIP removed after ${removed}s, master undisturbed (outage $(e2e_ping_outage "$t0")s), 0 cloud writes"
