#!/usr/bin/env bash
# (a) Initial election: two nodes started together elect one MASTER, and the VIP ends up on it
# everywhere (cloud, router, NIC, client pings) with at most a move or two.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario a-election "initial election, two nodes, nopreempt"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
t0=$(e2e_mark_time start)
migrates=$(e2e_count_calls MigratePrivateIpAddress)
landed=$(e2e_landed_at "$m" "$t0")
[ -n "$landed" ] || landed=$(e2e_mark_time start) # it started there: no move needed
if [ "$m" != "$E2E_INITIAL_HOLDER" ] && [ "$migrates" -lt 1 ]; then
    e2e_fail "node $m is MASTER and holds the VIP, but no MigratePrivateIpAddress was recorded"
fi
# Started together, both nodes may be MASTER for a moment: at most one extra move.
[ "$migrates" -le 2 ] || e2e_fail "$migrates MigratePrivateIpAddress calls for one election"
e2e_doctor_all # after the counts above: its probes are API calls too
e2e_pass "node $m MASTER at +$(e2e_rel "$t0" "$(e2e_state_at "$m" MASTER "$t0")")s, VIP landed +$(e2e_rel "$t0" "$landed")s, $migrates Migrate call(s)"
