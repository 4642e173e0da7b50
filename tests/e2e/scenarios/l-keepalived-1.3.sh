#!/usr/bin/env bash
# (j) keepalived-examples/keepalived-1.3.conf, the example for keepalived 1.3.x (one-word
# notify_master/backup/fault/stop, no notify_master_rx_lower_pri, the global
# vrrp_check_unicast_src), on the keepalived here: election, then a crash of the master; the
# peer's notify_master moves the VIP.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario l-keepalived-1.3 "the keepalived 1.3.x example: one-word notify hooks"
e2e_up "$E2E_TOPOLOGY_2" 1.3
m=$E2E_MASTER
o=$((3 - m))
if grep -qE '^[[:space:]]*(notify|notify_master_rx_lower_pri)[[:space:]]' "$RUN_DIR/n$o/keepalived.conf"; then
    e2e_fail "node $o's keepalived.conf is not the 1.3 example (it has a generic notify or rx_lower_pri)"
fi
t0=$EPOCHREALTIME
e2e_log "crashing node $m's keepalived"
e2e_keepalived_crash "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
migrates=$(e2e_count_calls MigratePrivateIpAddress "$t0")
if [ "$migrates" -lt 1 ] || [ "$migrates" -gt 2 ]; then
    e2e_fail "$migrates Migrate calls for one failover"
fi
e2e_pass "$E2E_TIMELINE, $migrates Migrate"
