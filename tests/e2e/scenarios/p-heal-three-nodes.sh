#!/usr/bin/env bash
# (p) Three nodes, a split brain (all three MASTER), healed in each order in turn, the VIP on
# the lowest node (a loser) each time:
#  - nobody's adverts reach the winner (node 3), the winner's reach everyone: nodes 1 and 2 go
#    BACKUP silently; node 1, the holder, listens for the MASTER's adverts and hands it the VIP;
#  - the winner's adverts reach nobody, everyone's reach the winner: node 1 goes BACKUP to node 2,
#    the winner hears lower-priority masters (MASTER_RX_LOWER_PRI) and takes the VIP at once.
# Each time the client's outage from the partial heal through the full heal is at most the
# landing lag + 3 s.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

split=${E2E_SPLIT_S:-40}
e2e_scenario p-heal-three-nodes "three nodes: split, healed in each order"
e2e_up "$E2E_TOPOLOGY_3" nopreempt
w=3

# split_all : all three MASTER for $split seconds, then the VIP on node 1.
split_all() {
    e2e_vrrp_cut
    e2e_wait_until 15 "all nodes MASTER" e2e_masters_are "1 2 3"
    e2e_hold "$split" "all nodes stay MASTER while the link is cut" e2e_masters_are "1 2 3"
    # The split's own reconciles may start a move right after (a master's reconcile waiting for
    # a move in flight takes the VIP the moment it lands on node 1): put it on node 1 again until
    # it stays there for a second.
    local i dir="$RUN_DIR/n1"
    for ((i = 0; i < 8; i++)); do
        if [ "$(e2e_cloud_holder)" != 1 ]; then
            e2e_in n1 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TCVIP_CONFIG="$dir/tcvip.toml" \
                "$E2E_BIN_DIR/vip-migrate" --reconcile >>"$dir/split-migrate.out" 2>&1 || true
        fi
        if e2e_poll 8 e2e_vip_cloud_on 1; then
            sleep 1
            e2e_vip_cloud_on 1 && break
        fi
    done
    e2e_vip_cloud_on 1 || e2e_fail "the VIP could not be settled on node 1 during the split ($(e2e_vip_facts))"
    e2e_log "split for ${split}s; the VIP is on node 1: $(e2e_vip_facts)"
}

# Order A: the winner hears nobody.
# handoffs : how many hand-overs nodes 1 and 2 (the losers) have logged.
handoffs() { cat "$RUN_DIR/n1/tcvip.log" "$RUN_DIR/n2/tcvip.log" 2>/dev/null | grep -c "event=handoff_done" || true; }

split_all
handed_before=$(handoffs)
t1=$EPOCHREALTIME
e2e_vrrp_cut_oneway 1 "$w"
e2e_vrrp_cut_oneway 2 "$w"
e2e_vrrp_heal
e2e_log "VRRP from node $w healed; nodes 1 and 2 still cut towards node $w"
e2e_wait_until 10 "nodes 1 and 2 BACKUP" e2e_roles_are "$w" 1 2
e2e_expect_vip_on "$w" "$t1" 30
# The holder at the heal hands over: node 1, or node 2 when a split reconcile already in flight
# landed the VIP there just as the heal came.
[ "$(handoffs)" -gt "$handed_before" ] || e2e_fail "neither loser logged a hand-over"
landed_a=$(e2e_rel "$t1" "$(e2e_landed_at "$w" "$t1")")
e2e_vrrp_heal_all
m=$(e2e_wait_master 20)
[ "$m" = "$w" ] || e2e_fail "node $m MASTER after the full heal, not node $w"
e2e_expect_vip_on "$w" "$t1" 30
outage_a=$(e2e_assert_outage_within "$t1" "three nodes, the winner hearing nobody first")
moves_a=$(e2e_moves "$t1")
e2e_log "order A: landed on node $w +${landed_a}s, ping outage ${outage_a}s, moves: $moves_a"

# Order B: nobody hears the winner.
split_all
t2=$EPOCHREALTIME
e2e_vrrp_cut_oneway "$w" 1
e2e_vrrp_cut_oneway "$w" 2
e2e_vrrp_heal
e2e_log "VRRP towards node $w healed; node $w's adverts still cut"
e2e_wait_until 15 "the cloud moved the VIP to node $w" e2e_vip_cloud_on "$w"
landed_b=$(e2e_rel "$t2" "$(e2e_landed_at "$w" "$t2")")
t3=$EPOCHREALTIME
e2e_vrrp_heal_all
m=$(e2e_wait_master 20)
[ "$m" = "$w" ] || e2e_fail "node $m MASTER after the full heal, not node $w"
e2e_expect_vip_on "$w" "$t3" 30
outage_b=$(e2e_assert_outage_within "$t2" "three nodes, nobody hearing the winner first")
moves_b=$(e2e_moves "$t2")
e2e_log "order B: landed on node $w +${landed_b}s, ping outage ${outage_b}s, moves: $moves_b"
e2e_pass "winner heard first: landed +${landed_a}s, outage ${outage_a}s; winner hears first: landed +${landed_b}s, outage ${outage_b}s (bound $(e2e_heal_bound)s)"
