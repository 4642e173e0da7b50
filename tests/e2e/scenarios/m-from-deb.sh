#!/usr/bin/env bash
# (k) What we ship is what we test: the binaries and keepalived-nopreempt.conf / tcvip.toml taken
# out of the .deb that scripts/dist.sh built (dpkg-deb -x; the examples name /usr/bin), then an
# election and a crash of the master. The .deb is $TCVIP_DEB, else the one in dist/ (scripts/
# test.sh builds it in its dist stage, before this); without one, the scenario fails.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

e2e_scenario m-from-deb "binaries and example from the .deb"
deb=${TCVIP_DEB:-}
if [ -z "$deb" ]; then
    deb=$(find "$E2E_REPO/dist" -maxdepth 1 -name 'tcvip_*_amd64.deb' 2>/dev/null | sort | tail -n 1)
fi
[ -n "$deb" ] && [ -f "$deb" ] || e2e_fail "no .deb in $E2E_REPO/dist: run scripts/dist.sh first (or set TCVIP_DEB)"
e2e_log "using $deb ($(date -r "$deb" '+%F %T'))"
x="$RUN_DIR/deb"
mkdir -m 0755 "$x"
dpkg-deb -x "$deb" "$x" || e2e_fail "dpkg-deb -x $deb"
chmod 0755 "$x"
export E2E_BIN_FROM="$x/usr/bin" E2E_EXAMPLES_FROM="$x/usr/share/doc/tcvip/examples" E2E_EXAMPLE_BIN_DIR=/usr/bin

e2e_up "$E2E_TOPOLOGY_2" nopreempt
m=$E2E_MASTER
o=$((3 - m))
for f in "$x"/usr/bin/*; do
    cmp -s "$f" "$E2E_BIN_DIR/${f##*/}" || e2e_fail "$E2E_BIN_DIR/${f##*/} is not the .deb's ${f##*/}"
done
grep -q "\"$E2E_BIN_DIR/notify-action\"" "$RUN_DIR/n$o/keepalived.conf" ||
    e2e_fail "node $o's keepalived.conf does not run the .deb's binaries"
t0=$EPOCHREALTIME
e2e_log "crashing node $m's keepalived"
e2e_keepalived_crash "$m"
e2e_expect_vip_on "$o" "$t0" 30
e2e_failover_timeline "$t0" "$o"
e2e_pass "$E2E_TIMELINE, from $(basename "$deb")"
