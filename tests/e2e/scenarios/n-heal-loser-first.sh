#!/usr/bin/env bash
# (n) A split brain heals one direction first: the winner's adverts reach the loser again while
# the loser's still do not reach the winner. The loser (the MASTER whose ENI the cloud routes the
# VIP to) hears the winner and goes BACKUP; its yielding advert is lost, so the winner never gets
# MASTER_RX_LOWER_PRI. The loser's hand-over gives the VIP to the winner: the client's outage is
# at most the landing lag + 3 s.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Longer than check-self's cloud view TTL (30 s), so that the split's reconciles have run.
split=${E2E_SPLIT_S:-40}
e2e_scenario n-heal-loser-first "split, then the winner->loser direction heals first (silent loser)"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
# Equal priorities: the higher primary IP wins the election once the nodes hear each other.
w=2
l=1
t0=$EPOCHREALTIME
e2e_vrrp_cut
e2e_wait_until 15 "both nodes MASTER" e2e_masters_are "1 2"
e2e_hold "$split" "both nodes stay MASTER while the link is cut" e2e_masters_are "1 2"
e2e_split_vip_to "$l"
e2e_log "split for ${split}s; the VIP is on node $l (the loser to be): $(e2e_vip_facts)"
t1=$EPOCHREALTIME
e2e_vrrp_cut_oneway "$l" "$w"
e2e_vrrp_heal
e2e_log "VRRP from node $w to node $l healed; node $l's adverts still cut"
e2e_wait_until 10 "node $l BACKUP" e2e_is_state "$l" BACKUP
e2e_expect_vip_on "$w" "$t1" 30
outage=$(e2e_assert_outage_within "$t1" "heal, loser hearing the winner first")
grep -q "event=handoff_done" "$RUN_DIR/n$l/tcvip.log" || e2e_fail "node $l logged no hand-over"
backup=$(e2e_rel "$t1" "$(e2e_state_at "$l" BACKUP "$t1")")
landed=$(e2e_rel "$t1" "$(e2e_landed_at "$w" "$t1")")
e2e_log "from the partial heal: node $l BACKUP +${backup}s, landed on node $w +${landed}s, ping outage ${outage}s"
t2=$EPOCHREALTIME
e2e_vrrp_heal_oneway "$l" "$w"
m=$(e2e_wait_master 20)
[ "$m" = "$w" ] || e2e_fail "node $m MASTER after the full heal, not node $w"
e2e_expect_vip_on "$w" "$t2" 30
after=$(e2e_count_calls MigratePrivateIpAddress "$t2")
[ "$after" -eq 0 ] || e2e_fail "$after Migrate calls after the full heal; the VIP was already on node $w"
e2e_pass "split ${split}s; loser BACKUP +${backup}s, landed +${landed}s, ping outage ${outage}s (bound $(e2e_heal_bound)s); full heal: 0 Migrate"
