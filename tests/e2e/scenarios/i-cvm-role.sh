#!/usr/bin/env bash
# (i) Credentials from the CVM role through the (simulated) metadata service: no key on disk,
# every API call signed with temporary credentials, and a failover still works.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario i-cvm-role "credentials from the CVM role, no keys on disk"
e2e_up "$E2E_TOPOLOGY_2" nopreempt cvm-role
m=$E2E_MASTER
o=$((3 - m))
t0=$EPOCHREALTIME
e2e_keepalived_crash "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
if grep -rlF -e "$E2E_SECRET_KEY" -e "$E2E_SECRET_ID" "$RUN_DIR"/n* "$RUN_DIR/etc" 2>/dev/null; then
    e2e_fail "a node's files hold the API key pair"
fi
calls=$(e2e_count_calls "")
permanent=$(e2e_calls | awk -v id="$E2E_SECRET_ID" '$4 == id' | wc -l)
unsigned=$(e2e_calls | awk '$4 == "-"' | wc -l)
[ "$calls" -gt 0 ] || e2e_fail "no API calls recorded"
[ "$permanent" -eq 0 ] || e2e_fail "$permanent calls signed with the permanent key pair"
[ "$unsigned" -eq 0 ] || e2e_fail "$unsigned calls without credentials"
e2e_doctor_all # after the counts above: its probes are API calls too
e2e_pass "$calls API calls, all with temporary role credentials; $E2E_TIMELINE"
