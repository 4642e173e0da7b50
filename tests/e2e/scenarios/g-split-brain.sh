#!/usr/bin/env bash
# (g) The VRRP link between the nodes is cut: both become MASTER (dual master) for 45 s, then
# the link heals. The VIP must end on the one remaining MASTER, and the move calls stay few: no
# ping-pong every check interval; the client's outage from the heal is at most the landing lag + 3 s.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Longer than check-self's cloud view TTL (30 s), so that both masters' reconcile runs.
split=${E2E_SPLIT_S:-45}
e2e_scenario g-split-brain "VRRP cut (dual master) then healed"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
t0=$EPOCHREALTIME
e2e_vrrp_cut
e2e_log "VRRP between the nodes cut in the router"
e2e_wait_until 15 "both nodes MASTER" e2e_masters_are "1 2"
e2e_log "dual master after $(e2e_secs_between "$t0" "$EPOCHREALTIME")s"
e2e_hold "$split" "both nodes stay MASTER while the link is cut" e2e_masters_are "1 2"
split_migrates=$(e2e_count_calls MigratePrivateIpAddress "$t0")
split_calls=$(e2e_count_calls "" "$t0")
e2e_log "during ${split} s of dual master: $split_migrates Migrate call(s), $split_calls API calls in all; $(e2e_vip_facts)"
t1=$EPOCHREALTIME
e2e_vrrp_heal
e2e_log "VRRP healed"
m=$(e2e_wait_master 20)
e2e_log "node $m is the single MASTER $(e2e_secs_between "$t1" "$EPOCHREALTIME")s after healing"
# The rightful master reclaims the VIP through MASTER_RX_LOWER_PRI (the loser's last advert,
# vrrp_higher_prio_send_advert), or the loser hands it over when it goes BACKUP.
e2e_expect_vip_on "$m" "$t1" 30
settled=$(e2e_secs_between "$t1" "$EPOCHREALTIME")
outage=$(e2e_assert_outage_within "$t1" "heal of both directions at once")
total=$(e2e_count_calls MigratePrivateIpAddress "$t0")
# Bounded: the backup-turned-master's move, a reconcile or two with a growing cooldown while
# split, and the rightful master's move back after healing.
[ "$split_migrates" -le 5 ] || e2e_fail "$split_migrates Migrate calls in ${split} s of dual master: ping-pong"
[ "$total" -le 7 ] || e2e_fail "$total Migrate calls in all: ping-pong"
e2e_pass "split: $split_migrates Migrate ($split_calls calls) in ${split} s; healed: node $m MASTER, VIP settled +${settled}s, ping outage ${outage}s (bound $(e2e_heal_bound)s); $total Migrate in all"
