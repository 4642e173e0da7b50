#!/usr/bin/env bash
# (h) Three nodes: the master crashes, and the VIP moves to the new master from whichever node's
# ENI held it (looked up in the cloud, never assumed to be "the peer").
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario h-three-nodes "three nodes, the master dies"
e2e_up "$E2E_TOPOLOGY_3" nopreempt
m=$E2E_MASTER
t0=$EPOCHREALTIME
e2e_keepalived_crash "$m"
n=$(e2e_wait_master 30)
[ "$n" != "$m" ] || e2e_fail "node $m still MASTER after its crash"
e2e_expect_vip_on "$n" "$t0" 30
e2e_failover_timeline "$t0" "$n"
# Every accepted move after the crash took the VIP from the ENI that held it at that moment:
# the first from the dead master's, each next one from where the previous one put it, the last
# to the new master. (Nodes that time out together may both be MASTER for a moment.)
moves=$(e2e_moves "$t0")
e2e_log "accepted moves since the crash: ${moves:-none}"
chain=$(awk -v first="${NODE_ENI[m]}" -v last="${NODE_ENI[n]}" '
    { split($0, mv, ">"); if (NR == 1 && mv[1] != first) bad = 1; if (NR > 1 && mv[1] != prev) bad = 1; prev = mv[2] }
    END { print ((NR > 0 && !bad && prev == last) ? "ok" : "broken") }' < <(tr ' ' '\n' <<<"$moves"))
[ "$chain" = ok ] || e2e_fail "moves do not chain from ${NODE_ENI[m]} to ${NODE_ENI[n]}: $moves"
e2e_pass "node $m died, node $n MASTER, moves $moves: $E2E_TIMELINE"
