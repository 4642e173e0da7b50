#!/usr/bin/env bash
# (o) A split brain heals the other direction first: the loser's adverts reach the winner again
# while the winner's still do not reach the loser. The winner hears a lower-priority MASTER
# (MASTER_RX_LOWER_PRI) and takes the VIP back at once; the loser stays MASTER until the rest
# heals, then goes BACKUP with the VIP already gone (no hand-over needed). The client's outage is
# at most the landing lag + 3 s.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

split=${E2E_SPLIT_S:-40}
e2e_scenario o-heal-winner-first "split, then the loser->winner direction heals first (rx_lower_pri)"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
w=2
l=1
t0=$EPOCHREALTIME
e2e_vrrp_cut
e2e_wait_until 15 "both nodes MASTER" e2e_masters_are "1 2"
e2e_hold "$split" "both nodes stay MASTER while the link is cut" e2e_masters_are "1 2"
e2e_split_vip_to "$l"
e2e_log "split for ${split}s; the VIP is on node $l (the loser to be): $(e2e_vip_facts)"
t1=$EPOCHREALTIME
e2e_vrrp_cut_oneway "$w" "$l"
e2e_vrrp_heal
e2e_log "VRRP from node $l to node $w healed; node $w's adverts still cut"
e2e_wait_until 15 "the cloud moved the VIP to node $w" e2e_vip_cloud_on "$w"
landed=$(e2e_rel "$t1" "$(e2e_landed_at "$w" "$t1")")
grep -q "rx_lower_pri\|MASTER_RX_LOWER_PRI\|reconcile" "$RUN_DIR/n$w/tcvip.log" ||
    e2e_fail "node $w's log shows no reconcile on MASTER_RX_LOWER_PRI"
t2=$EPOCHREALTIME
e2e_vrrp_heal_oneway "$w" "$l"
e2e_log "VRRP healed both ways"
m=$(e2e_wait_master 20)
[ "$m" = "$w" ] || e2e_fail "node $m MASTER after the full heal, not node $w"
e2e_expect_vip_on "$w" "$t2" 30
outage=$(e2e_assert_outage_within "$t1" "heal, winner hearing the loser first")
after=$(e2e_count_calls MigratePrivateIpAddress "$t2")
[ "$after" -eq 0 ] || e2e_fail "$after Migrate calls after the full heal; the VIP was already on node $w"
e2e_pass "split ${split}s; landed on the winner +${landed}s after the partial heal, ping outage ${outage}s through the full heal (bound $(e2e_heal_bound)s); full heal: 0 Migrate"
