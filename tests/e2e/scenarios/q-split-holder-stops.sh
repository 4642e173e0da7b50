#!/usr/bin/env bash
# (q) A split brain ends because the MASTER holding the VIP stops (SIGTERM) while still cut off:
# its priority-0 advert never reaches the survivor, which stays MASTER and would not know. The
# stopping node's hand-over (on STOP, one peer) gives the VIP to the survivor: the client's outage
# is at most the landing lag + 3 s.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

split=${E2E_SPLIT_S:-40}
e2e_scenario q-split-holder-stops "split, then the VIP holder's keepalived stops while cut off"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
t0=$EPOCHREALTIME
e2e_vrrp_cut
e2e_wait_until 15 "both nodes MASTER" e2e_masters_are "1 2"
e2e_hold "$split" "both nodes stay MASTER while the link is cut" e2e_masters_are "1 2"
h=$(e2e_cloud_holder)
[ -n "$h" ] || e2e_fail "no holder after the split ($(e2e_vip_facts))"
e2e_split_vip_to "$h"
s=$((3 - h))
e2e_log "split for ${split}s; the VIP is on node $h, which stops now: $(e2e_vip_facts)"
t1=$EPOCHREALTIME
e2e_keepalived_stop "$h"
e2e_expect_vip_on "$s" "$t1" 30
outage=$(e2e_assert_outage_within "$t1" "split ended by the holder stopping")
grep -q "event=handoff_done" "$RUN_DIR/n$h/tcvip.log" || e2e_fail "node $h logged no hand-over"
landed=$(e2e_rel "$t1" "$(e2e_landed_at "$s" "$t1")")
e2e_is_state "$s" MASTER || e2e_fail "node $s is no longer MASTER"
e2e_pass "split ${split}s; node $h stopped, VIP landed on node $s +${landed}s, ping outage ${outage}s (bound $(e2e_heal_bound)s)"
