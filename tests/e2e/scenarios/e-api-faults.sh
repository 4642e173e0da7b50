#!/usr/bin/env bash
# (e) API faults during failover: throttling, an HTTP 500 and an 8 s landing lag. The new
# master retries what is retryable, waits for the slow move to land, and converges within the
# failover deadline.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario e-api-faults "throttling, HTTP 500 and an 8 s lag during failover"
e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
o=$((3 - m))
e2e_control POST fault '{"action":"MigratePrivateIpAddress","count":2,"fault":{"kind":"api_error","code":"RequestLimitExceeded","message":"throttled by the rehearsal"}}' >/dev/null
e2e_control POST fault '{"action":"MigratePrivateIpAddress","count":1,"fault":{"kind":"http500"}}' >/dev/null
e2e_control POST lag '{"ms":8000}' >/dev/null
e2e_log "queued for MigratePrivateIpAddress: 2 x RequestLimitExceeded, 1 x HTTP 500; landing lag 8 s"
t0=$EPOCHREALTIME
e2e_keepalived_crash "$m"
# The failover deadline is 60 s (tcvip.toml [failover] deadline_s).
e2e_expect_vip_on "$o" "$t0" 60
e2e_failover_timeline "$t0" "$o"
outcomes=$(e2e_calls MigratePrivateIpAddress "$t0" | awk '{ printf "%s%s", sep, $3; sep = "," }')
e2e_log "MigratePrivateIpAddress outcomes: $outcomes"
case "$outcomes" in
    *RequestLimitExceeded*HTTP500*OK*) ;;
    *) e2e_fail "expected the throttled, failed and then accepted calls, got: $outcomes" ;;
esac
ok=$(e2e_calls MigratePrivateIpAddress "$t0" | awk '$3 == "OK"' | wc -l)
[ "$ok" -eq 1 ] || e2e_fail "$ok accepted Migrate calls; one move was needed"
landed=$(e2e_landed_at "$o" "$t0")
accepted=$(e2e_calls MigratePrivateIpAddress "$t0" | awk '$3 == "OK" { print $1; exit }')
lag=$(e2e_secs_between "$accepted" "$landed")
awk -v l="$lag" 'BEGIN { exit !(l >= 7.5) }' || e2e_fail "landed ${lag}s after the accepted call; the lag is 8 s"
e2e_pass "$E2E_TIMELINE; Migrate outcomes $outcomes"
