#!/usr/bin/env bash
# (c) A graceful stop of the master (SIGTERM): keepalived sends a priority-0 advert and removes
# the VIP, the peer takes over at once, the VIP moves in the cloud.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario c-graceful-stop "graceful stop of the master"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
o=$((3 - m))
t0=$EPOCHREALTIME
e2e_log "stopping node $m's keepalived (SIGTERM)"
e2e_keepalived_stop "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
! e2e_nic_has_vip "$m" || e2e_fail "the stopped node $m still has the VIP on its NIC"
took=$(e2e_rel "$t0" "$(e2e_state_at "$o" MASTER "$t0")")
# A priority-0 advert makes the peer MASTER after its skew time, well under the 3 s of a crash.
awk -v t="$took" 'BEGIN { exit !(t < 2.5) }' || e2e_fail "peer became MASTER only after ${took}s"
e2e_pass "$E2E_TIMELINE"
