#!/usr/bin/env bash
# (d, nopreempt mode) The old master returns after a crash and stays BACKUP: the VIP stays where
# it is, no move, no second outage.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario d-nopreempt-return "old master returns and stays BACKUP"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
o=$((3 - m))
t0=$EPOCHREALTIME
e2e_keepalived_crash "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
t1=$EPOCHREALTIME
e2e_log "restarting node $m's keepalived"
e2e_keepalived_start "$m"
e2e_wait_until 30 "node $m BACKUP" e2e_is_state "$m" BACKUP
# Watch for longer than a master-down interval plus check-self's rise: node m must not take over.
e2e_hold 12 "node $o stays MASTER, node $m BACKUP" e2e_roles_are "$o" "$m"
e2e_expect_vip_on "$o" "$t1" 10
# Reported, not failed: check-self on the returning node may act on the MASTER record its crashed
# keepalived left behind, before keepalived's first notify (BACKUP) replaces it.
since=$(date -u -d "@${t1%.*}" +%Y-%m-%dT%H:%M:%S)
if awk -v s="$since" '$1 >= s && /event=vip_restored/ { found = 1 } END { exit !found }' "$RUN_DIR/n$m/tcvip.log" 2>/dev/null; then
    e2e_log "WARNING: check-self on node $m put the VIP back on its NIC after the restart (stale MASTER record); it was removed again as a stray"
fi
migrates=$(e2e_count_calls MigratePrivateIpAddress "$t1")
[ "$migrates" -eq 0 ] || e2e_fail "$migrates Migrate calls after the old master returned"
e2e_pass "failover: $E2E_TIMELINE; return: node $m BACKUP, VIP stayed on node $o, 0 Migrate, outage $(e2e_ping_outage "$t1")s"
