#!/usr/bin/env bash
# (j) `tcvip drain` on the MASTER: check-self fails from its next run, keepalived (never
# restarted) takes the node to FAULT after the track script's `fall`, the peer becomes MASTER
# and moves the VIP. The drained node stays out of MASTER, also across a keepalived restart
# (the drain file is on disk), until `tcvip undrain`; then it comes back as BACKUP and, with
# nopreempt, the VIP stays where it is. Measured: drain → peer MASTER → landed, ping outage,
# and when `tcvip drain --wait` returned. tcvip doctor warns (exit 1, naming `tcvip undrain`) while
# drained and passes (exit 0) after undrain.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario k-drain "tcvip drain on the MASTER, then undrain"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
o=$((3 - m))
tcvip_on() {
    local n=$1
    shift
    e2e_in "n$n" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER=root SUDO_USER=e2e \
        "$E2E_BIN_DIR/tcvip" --config "$RUN_DIR/n$n/tcvip.toml" "$@"
}
pid_before=$(cat "$RUN_DIR/n$m/keepalived.pid")
t0=$EPOCHREALTIME
e2e_log "draining node $m (MASTER)"
out=$(tcvip_on "$m" drain --reason "e2e maintenance" --wait --deadline-s 30 2>&1) ||
    e2e_fail "tcvip drain --wait failed: $out"
t_waited=$EPOCHREALTIME
e2e_log "tcvip drain --wait: ${out//$'\n'/ | }"
[ -f "$RUN_DIR/n$m/drain" ] || e2e_fail "no drain file after tcvip drain"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
left=$(e2e_state_at "$m" FAULT "$t0")
[ -n "$left" ] || e2e_fail "node $m never left MASTER for FAULT after the drain"
[ "$(cat "$RUN_DIR/n$m/keepalived.pid")" = "$pid_before" ] || e2e_fail "node $m's keepalived was restarted"
drain_timeline="drained node FAULT +$(e2e_rel "$t0" "$left")s, $E2E_TIMELINE, drain --wait returned +$(e2e_rel "$t0" "$t_waited")s"

# The drained node stays out of MASTER, and shows the drain.
drained_roles() { e2e_is_state "$o" MASTER && e2e_is_state "$m" FAULT; }
e2e_hold 8 "node $o MASTER, node $m FAULT while drained" drained_roles
status=$(tcvip_on "$m" status 2>/dev/null || true)
grep -q "drain: drained since .* by e2e (as root): e2e maintenance" <<<"$status" ||
    e2e_fail "tcvip status on node $m does not show the drain: $status"
code=0
e2e_doctor "$m" >"$RUN_DIR/n$m/doctor-drained.out" 2>&1 || code=$?
[ "$code" -eq 1 ] || e2e_fail "tcvip doctor on drained node $m exited $code, not 1: $(cat "$RUN_DIR/n$m/doctor-drained.out")"
grep -q "fix: \`tcvip undrain\`" "$RUN_DIR/n$m/doctor-drained.out" || e2e_fail "doctor on the drained node does not name tcvip undrain"

# A keepalived restart (as after a reboot) does not end it: init_fail plus the failing check.
t1=$EPOCHREALTIME
e2e_keepalived_stop "$m"
e2e_keepalived_start "$m"
e2e_hold 10 "node $m stays out of MASTER after a restart while drained" e2e_not e2e_is_state "$m" MASTER
e2e_expect_vip_on "$o" "$t1" 10

# Undrain: back as BACKUP, the VIP stays on the peer (nopreempt), no further move.
t2=$EPOCHREALTIME
out=$(tcvip_on "$m" undrain 2>&1) || e2e_fail "tcvip undrain failed: $out"
[ ! -e "$RUN_DIR/n$m/drain" ] || e2e_fail "drain file still there after tcvip undrain"
e2e_wait_until 30 "node $m BACKUP after undrain" e2e_is_state "$m" BACKUP
back=$(e2e_state_at "$m" BACKUP "$t2")
e2e_hold 6 "node $o stays MASTER, node $m BACKUP" e2e_roles_are "$o" "$m"
e2e_expect_vip_on "$o" "$t2" 10
migrates=$(e2e_count_calls MigratePrivateIpAddress "$t1")
[ "$migrates" -eq 0 ] || e2e_fail "$migrates Migrate calls after the drain's handover"
# doctor after the count: its permission probe is a (refused) Migrate of an ENI to itself.
code=0
e2e_doctor "$m" >"$RUN_DIR/n$m/doctor-undrained.out" 2>&1 || code=$?
[ "$code" -eq 0 ] || e2e_fail "tcvip doctor on node $m after undrain exited $code: $(cat "$RUN_DIR/n$m/doctor-undrained.out")"
e2e_pass "drain: $drain_timeline; undrain: node $m BACKUP +$(e2e_rel "$t2" "$back")s, VIP stayed on node $o, 0 Migrate"
