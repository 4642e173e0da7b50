#!/usr/bin/env bash
# (r) A 5-minute split brain (VRRP cut both ways, both nodes MASTER): the moves stay few — at
# most one per growing cooldown per node, so a few per node in 5 minutes and never two within
# 2 s — and after the heal the client's outage is at most the landing lag + 3 s.
# e2e-timeout: 480
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

split=${E2E_SPLIT_S:-300}
# The bound for 5 minutes: the move on becoming MASTER, check-self's first reconcile (no
# cooldown before it), then one per cooldown (10 s, doubling while the conflict lasts:
# 10 + 20 + 40 + 80 = 150 s, and the next waits 160 s more) — at most 6 per node. Beside the
# count, each node's reconciles are checked against the cooldown it announced.
max_per_node=${E2E_MAX_MOVES_PER_NODE:-6}
min_gap=2.0
e2e_scenario r-split-five-minutes "a ${split}s split: moves per node, then the heal"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
t0=$EPOCHREALTIME
e2e_vrrp_cut
e2e_wait_until 15 "both nodes MASTER" e2e_masters_are "1 2"
e2e_hold "$split" "both nodes stay MASTER while the link is cut" e2e_masters_are "1 2"
per_node=$(e2e_moves_by_node "$t0")
gap=$(e2e_min_move_gap "$t0")
moves=$(e2e_moves "$t0")
e2e_log "during ${split}s of split: moves taken by node (accepted Migrate to it): $per_node; shortest gap between moves: ${gap}s; moves: $moves"
t1=$EPOCHREALTIME
e2e_vrrp_heal
e2e_log "VRRP healed"
m=$(e2e_wait_master 20)
e2e_expect_vip_on "$m" "$t1" 30
outage=$(e2e_assert_outage_within "$t1" "heal after a ${split}s split")
for pair in $per_node; do
    [ "${pair#*:}" -le "$max_per_node" ] ||
        e2e_fail "node ${pair%:*} took the VIP ${pair#*:} times in ${split}s of split (target: at most $max_per_node): $moves"
done
# check-self logs `event=reconcile … next_cooldown_s=N`: the next reconcile of that node must
# come at least N s later (the cooldown is a floor; the cloud view's TTL adds to it).
for ((i = 1; i <= E2E_NODES; i++)); do
    early=$(grep -h 'bin=check-self .*event=reconcile ' "$RUN_DIR/n$i/tcvip.log" | awk '
        { split(substr($1, 12, 12), t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]
          if (n++) { g = s - p; if (g < 0) g += 86400; if (g + 0.5 < c) printf "%.2fs after a %ds cooldown; ", g, c }
          p = s; c = 0; for (f = 2; f <= NF; f++) if ($f ~ /^next_cooldown_s=/) c = substr($f, 17) + 0 }')
    [ -z "$early" ] || e2e_fail "node $i reconciled before its cooldown ended: $early"
done
if [ "$gap" != none ] && awk -v g="$gap" -v m="$min_gap" 'BEGIN { exit !(g < m) }'; then
    e2e_fail "two moves ${gap}s apart during the split (target: none within ${min_gap}s): ping-pong"
fi
e2e_pass "split ${split}s: moves by node $per_node, shortest gap ${gap}s; heal: node $m MASTER, ping outage ${outage}s (bound $(e2e_heal_bound)s)"
