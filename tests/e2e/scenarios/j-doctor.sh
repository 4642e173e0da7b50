#!/usr/bin/env bash
# (j) tcvip doctor on the rehearsal: it passes (exit 0) on every node of a healthy pair, fails
# (exit 2) naming the refused permission and its fix once the account's policy refuses
# MigratePrivateIpAddress, and passes again when the refusal is lifted — without any of its
# probes moving the VIP.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario j-doctor "tcvip doctor on healthy and broken nodes"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
holder=$(e2e_cloud_view)
for ((i = 1; i <= E2E_NODES; i++)); do
    code=0
    e2e_doctor "$i" >"$RUN_DIR/n$i/doctor.out" 2>&1 || code=$?
    sed 's/^/    /' "$RUN_DIR/n$i/doctor.out" >&2
    [ "$code" -eq 0 ] || e2e_fail "tcvip doctor on healthy node $i exited $code"
done

e2e_control POST deny '{"actions": ["MigratePrivateIpAddress"]}' >/dev/null
code=0
e2e_doctor "$m" >"$RUN_DIR/n$m/doctor-denied.out" 2>&1 || code=$?
sed 's/^/    /' "$RUN_DIR/n$m/doctor-denied.out" >&2
[ "$code" -eq 2 ] || e2e_fail "tcvip doctor with MigratePrivateIpAddress refused exited $code, not 2"
grep -q "vpc:MigratePrivateIpAddress refused by CAM" "$RUN_DIR/n$m/doctor-denied.out" ||
    e2e_fail "doctor did not name the refused permission"
grep -q "fix: grant vpc:MigratePrivateIpAddress" "$RUN_DIR/n$m/doctor-denied.out" ||
    e2e_fail "doctor did not give the fix for the refused permission"
e2e_control POST clear-faults >/dev/null
e2e_doctor "$m" --json >"$RUN_DIR/n$m/doctor.json" 2>&1 ||
    e2e_fail "tcvip doctor after the refusal was lifted: $(cat "$RUN_DIR/n$m/doctor.json")"

[ "$(e2e_cloud_view)" = "$holder" ] || e2e_fail "the VIP moved during the doctor runs: $holder -> $(e2e_cloud_view)"
e2e_pass "doctor exit 0 on all $E2E_NODES nodes, 2 with MigratePrivateIpAddress refused (fix named), 0 again after; VIP stayed on node $m"
