#!/usr/bin/env bash
# The chaos suite's own test, without root or namespaces (seconds): every check of the checker
# passes on a good recorded timeline and fails on one that breaks its rule, and the schedule is
# reproducible (same seed, same schedule), differs between seeds, and undoes every fault it
# makes within its window.
# Usage: tests/e2e/chaos/checker-selftest.sh   (exit 0 when all cases hold)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../chaos-lib.sh
source "$here/../chaos-lib.sh"

RUN_DIR=$(mktemp -d)
trap 'rm -rf "$RUN_DIR"' EXIT
# shellcheck disable=SC2034 # lib.sh's e2e_elapsed reads it
E2E_T0=$EPOCHREALTIME
E2E_NODES=2
NODE_ENI=("" eni-node0001 eni-node0002)
NODE_IP=("" 198.18.1.11 198.18.1.12)
# No namespaces here: the facts printed beside a failure are not needed.
e2e_vip_facts() { echo "facts"; }

cases=0
bad=0
# expect PASS|FAIL NAME OUTPUT
expect() {
    cases=$((cases + 1))
    if [ "${3%% *}" = "$1" ]; then
        printf 'ok   %-58s %s\n' "$2" "$3"
    else
        printf 'FAIL %-58s expected %s, got: %s\n' "$2" "$1" "$3"
        bad=$((bad + 1))
    fi
}

reset() {
    rm -rf "${RUN_DIR:?}"/*
    mkdir -p "$RUN_DIR/n1/state" "$RUN_DIR/n2/state"
    : >"$RUN_DIR/chaos-events.log"
    : >"$RUN_DIR/landed.log"
    : >"$RUN_DIR/calls.jsonl"
    : >"$RUN_DIR/chaos-procs.log"
    : >"$RUN_DIR/chaos-files.log"
    : >"$RUN_DIR/chaos-settle.log"
    : >"$RUN_DIR/ping.log"
    : >"$RUN_DIR/n1/keepalived.log"
    : >"$RUN_DIR/n2/keepalived.log"
    : >"$RUN_DIR/n1/tcvip.log"
    : >"$RUN_DIR/n2/tcvip.log"
}
T=1700000000
at() { awk -v t="$T" -v o="$1" 'BEGIN { printf "%.3f", t + o }'; }
state() { echo "$(at "$2") Keepalived_vrrp[1]: (VI_1) Entering $3 STATE" >>"$RUN_DIR/n$1/keepalived.log"; }
landed() { echo "$(at "$2") 198.18.1.100 ${NODE_ENI[$1]} ${NODE_IP[$1]}" >>"$RUN_DIR/landed.log"; }
call() {
    local ms
    ms=$(awk -v t="$T" -v o="$2" 'BEGIN { printf "%.0f", (t + o) * 1000 }')
    echo "{\"unix_ms\":$ms,\"action\":\"$1\",\"outcome\":\"${3:-OK}\",\"secret_id\":\"AKID\"}" >>"$RUN_DIR/calls.jsonl"
}
event() { echo "$(at "$1") $2" >>"$RUN_DIR/chaos-events.log"; }
# Node N "running" as far as e2e_keepalived_running can tell: this shell's pid.
running() { echo $$ >"$RUN_DIR/n$1/keepalived.pid"; echo $$ >"$RUN_DIR/n$1/vrrp.pid"; }

# ---- moves
reset
state 1 0 BACKUP; state 2 0 BACKUP; landed 1 0
state 1 4 MASTER
event 10 "down 1"
state 2 14 MASTER; call MigratePrivateIpAddress 14.1; landed 2 16.1
expect PASS "moves: a failover after the master died" "$(chaos_check_moves)"
call MigratePrivateIpAddress 20
expect FAIL "moves: a move 4 s into a single MASTER holding the VIP" "$(chaos_check_moves)"
reset
state 1 0 MASTER; state 2 0 MASTER; landed 1 0
call MigratePrivateIpAddress 3; landed 2 5
call MigratePrivateIpAddress 9
expect PASS "moves: moves during a dual master" "$(chaos_check_moves)"
state 2 10 BACKUP; landed 1 11; call MigratePrivateIpAddress 11.2
expect PASS "moves: one 0.2 s after the holder became single MASTER (race)" "$(chaos_check_moves)"
call MigratePrivateIpAddress 13
expect FAIL "moves: a move 2 s after it" "$(chaos_check_moves)"
call MigratePrivateIpAddress 13.5 RequestLimitExceeded
out=$(chaos_check_moves)
expect PASS "moves: a refused call is no move (still 1 of 4)" "$(grep -q '^FAIL 1 of 4 moves' <<<"$out" && echo PASS || echo "FAIL $out")"
reset
state 1 0 MASTER; state 2 0 BACKUP; landed 1 0
state 2 3 FAULT
echo "$(at 5) Keepalived[1]: Stopping" >>"$RUN_DIR/n1/keepalived.log"
call MigratePrivateIpAddress 6.5; landed 2 8.5
expect PASS "moves: the hand-over of a master that is stopping (Stopping is not MASTER)" "$(chaos_check_moves)"

# ---- deadlines
reset
{
    echo "$(at 1) 1 100 vip-migrate S 30.00"
    echo "$(at 1) 2 101 check-self S 1.50"
    echo "$(at 1) 2 102 check-self Z 40.00"
} >>"$RUN_DIR/chaos-procs.log"
expect PASS "deadlines: within their deadlines; a zombie does not count" "$(chaos_check_deadlines)"
echo "$(at 2) 1 100 vip-migrate S 62.00" >>"$RUN_DIR/chaos-procs.log"
expect FAIL "deadlines: vip-migrate alive 62 s (deadline 60 s)" "$(chaos_check_deadlines)"
reset
echo "$(at 1) 2 101 check-self R 4.00" >>"$RUN_DIR/chaos-procs.log"
expect FAIL "deadlines: check-self alive 4 s (deadline 2 s)" "$(chaos_check_deadlines)"
reset
echo "$(at 1) 2 101 notify-action S 5.00" >>"$RUN_DIR/chaos-procs.log"
expect FAIL "deadlines: notify-action alive 5 s" "$(chaos_check_deadlines)"

# ---- panics
reset
echo "ts=1 level=info event=migrated" >>"$RUN_DIR/n1/tcvip.log"
expect PASS "panics: none" "$(chaos_check_panics)"
echo "thread 'main' panicked at crates/tcvip/src/migrate.rs:1:1:" >>"$RUN_DIR/n2/tcvip.log"
expect FAIL "panics: a panic in node 2's log" "$(chaos_check_panics)"
reset
echo "$(at 1) Keepalived_vrrp[1]: Script tcvip_check now returning 101" >>"$RUN_DIR/n1/keepalived.log"
echo "$(at 1) Keepalived_vrrp[1]: VRRP_Script(tcvip_check) failed (exited with status 101)" >>"$RUN_DIR/n1/keepalived.log"
expect FAIL "panics: a script exited 101 (Rust's panic code)" "$(chaos_check_panics)"

# ---- state files
reset
running 1; running 2
state 1 1 MASTER; state 2 1 BACKUP
rec() { echo "{\"instance\":\"default\",\"state\":\"$2\",\"seq\":$3}" >"$RUN_DIR/n$1/state/state-default.json"; }
files() { echo "$(at "$1") $2" >>"$RUN_DIR/chaos-files.log"; }
rec 1 MASTER 2; rec 2 BACKUP 1
files 0 "1 - MISSING"; files 0.5 "1 state-default.json 1 BACKUP"; files 1 "1 state-default.json 2 MASTER"
files 1 "2 state-default.json 1 BACKUP"
expect PASS "state-files: records grow and agree with keepalived" "$(chaos_check_state_files)"
files 2 "1 - MISSING"
expect FAIL "state-files: a record lost after it existed" "$(chaos_check_state_files)"
reset; running 1; running 2; state 1 1 MASTER; state 2 1 BACKUP; rec 1 MASTER 2; rec 2 BACKUP 1
files 1 "1 state-default.json 2 MASTER"; files 2 "1 state-default.json 1 MASTER"
expect FAIL "state-files: a sequence number going down" "$(chaos_check_state_files)"
reset; running 1; running 2; state 1 1 MASTER; state 2 1 BACKUP; rec 1 MASTER 2; rec 2 BACKUP 1
files 1 "2 cache-cloud-198.18.1.100.json CORRUPT"
expect FAIL "state-files: a corrupt cache file" "$(chaos_check_state_files)"
reset; running 1; running 2; state 1 1 MASTER; state 2 1 BACKUP; rec 1 MASTER 2; rec 2 MASTER 3
expect FAIL "state-files: node 2's record says MASTER, keepalived BACKUP" "$(chaos_check_state_files)"
reset; running 1; running 2; state 1 1 MASTER; state 2 1 BACKUP; rec 1 MASTER 2
expect FAIL "state-files: no record at the end" "$(chaos_check_state_files)"
# The sampler's side: a record that is not one JSON object reads as CORRUPT.
reset
rec 1 MASTER 7
printf '{"instance":"default","state":"MAS' >"$RUN_DIR/n2/state/state-default.json"
out=$(chaos_sample_files 1; chaos_sample_files 2)
expect PASS "sampler: a whole record is read as SEQ STATE" "$(grep -q ' 1 state-default.json 7 MASTER$' <<<"$out" && echo PASS || echo "FAIL $out")"
expect PASS "sampler: a torn record is CORRUPT" "$(grep -q ' 2 state-default.json CORRUPT$' <<<"$out" && echo PASS || echo "FAIL $out")"
rm -f "$RUN_DIR"/n*/state/*
expect PASS "sampler: no record is MISSING" "$(chaos_sample_files 1 | grep -q ' 1 - MISSING$' && echo PASS || echo FAIL)"

# ---- API rates
reset
for i in $(seq 1 20); do call DescribeVpcTaskResult "$(awk -v i="$i" 'BEGIN { print 1 + i * 0.04 }')"; done
expect PASS "api-rate: 20 DescribeVpcTaskResult in one second (limit 20)" "$(chaos_check_rates)"
call DescribeVpcTaskResult 1.9
expect FAIL "api-rate: 21 in one second" "$(chaos_check_rates)"
reset
for i in $(seq 1 30); do call DescribeVpcTaskResult "$(awk -v i="$i" 'BEGIN { print i * 0.1 }')"; done
expect PASS "api-rate: 30 spread over 3 s" "$(chaos_check_rates)"

# ---- convergence
reset
quiet=$(at 100)
for i in $(seq 0 40); do
    o=$(awk -v i="$i" 'BEGIN { printf "%.1f", 100 + i * 0.5 }')
    if [ "$i" -lt 4 ]; then echo "$(at "$o") no 1 2 -"; else echo "$(at "$o") ok 2 2"; fi
done >>"$RUN_DIR/chaos-settle.log"
for i in $(seq 0 100); do
    echo "[$(at "$(awk -v i="$i" 'BEGIN { print 101 + i * 0.05 }')")] 64 bytes from 198.18.1.100: icmp_seq=$i ttl=101 time=0.1 ms"
done >>"$RUN_DIR/ping.log"
expect PASS "converged: settled on node 2 at +2 s (bound 8.61 s)" "$(chaos_check_converged "$quiet" 8.61 2)"
expect FAIL "converged: the same with a bound of 1.5 s" "$(chaos_check_converged "$quiet" 1.5 2)"
expect FAIL "converged: never settled" "$(chaos_check_converged "$quiet" 8.61 "")"
: >"$RUN_DIR/ping.log"
for i in $(seq 0 100); do
    echo "[$(at "$(awk -v i="$i" 'BEGIN { print 101 + i * 0.05 }')")] 64 bytes from 198.18.1.100: icmp_seq=$i ttl=100 time=0.1 ms"
done >>"$RUN_DIR/ping.log"
expect FAIL "converged: settled, but node 1 answers the client" "$(chaos_check_converged "$quiet" 8.61 2)"

# ---- the schedule
a=$(chaos_schedule 42 60)
b=$(chaos_schedule 42 60)
c=$(chaos_schedule 43 60)
expect PASS "schedule: the same seed gives the same schedule" "$([ "$a" = "$b" ] && echo PASS || echo FAIL)"
expect PASS "schedule: another seed gives another" "$([ "$a" != "$c" ] && echo PASS || echo FAIL)"
expect PASS "schedule: --nodes 3 is honoured" "$([ "$(chaos_schedule 42 60 3 | awk '$2 == "nodes" { print $3 }')" = 3 ] && echo PASS || echo FAIL)"
creds_of() { chaos_schedule "$@" | awk '$2 == "credentials" { print $3 }'; }
same=PASS
for s in 1 2 3 4 5 6 7 8 9 10; do [ "$(creds_of "$s" 30)" = "$(creds_of "$s" 30 3)" ] || same="FAIL seed $s"; done
expect PASS "schedule: --nodes leaves the seed's credentials" "$same"
problems=""
kinds_seen=""
for s in $(seq 1 60); do
    for d in 20 60 300; do
        sched=$(chaos_schedule "$s" "$d")
        kinds_seen="$kinds_seen $(awk '$1 != "#" { print ($2 == "api" ? "api-" $5 : $2) }' <<<"$sched" | sort -u | tr '\n' ' ')"
        p=$(awk -v D="$d" -v base="$CHAOS_BASE_LAG_MS" '
            $1 == "#" { next }
            { t = $1; k = $2; n = $3 }
            k ~ /^(cut_both|cut_from|kill|sigstop|restart|reload|unplug|dead|metadata_down)$/ && t > D - 1.5 { print "starts at " t " > D - 1.5: " $0 }
            k ~ /^(heal_both|heal_from|start|sigcont|plug|revive|metadata_up)$/ && t > D - 0.5 + 0.001 { print "undone at " t " > D - 0.5: " $0 }
            t >= D { print "after the window: " $0 }
            k == "cut_both" { open["cut"]++ } k == "heal_both" { open["cut"]-- }
            k == "cut_from" { open["from" n]++ } k == "heal_from" { open["from" n]-- }
            k == "kill" { open["k" n]++ } k == "start" { open["k" n]-- }
            k == "sigstop" { open["s" n]++ } k == "sigcont" { open["s" n]-- }
            k == "unplug" { open["u" n]++ } k == "plug" { open["u" n]-- }
            k == "dead" { open["d" n]++ } k == "revive" { open["d" n]-- }
            k == "metadata_down" { open["m"]++ } k == "metadata_up" { open["m"]-- }
            k == "lag" { lag = n }
            END {
                for (x in open) if (open[x] != 0) print "not undone: " x
                if (lag != "" && lag != base) print "lag left at " lag
            }' <<<"$sched")
        [ -z "$p" ] || problems="$problems seed $s duration $d: ${p//$'\n'/; };"
    done
done
expect PASS "schedule: 180 schedules undo every fault within the window" "$([ -z "$problems" ] && echo PASS || echo "FAIL$problems")"
missing=""
for k in cut_both cut_from kill sigstop restart reload unplug dead api-throttle api-http500 api-garbage api-delay api-drop fail_task lag metadata_down expire_credentials; do
    [[ " $kinds_seen " == *" $k "* ]] || missing="$missing $k"
done
expect PASS "schedule: every fault kind occurs" "$([ -z "$missing" ] && echo PASS || echo "FAIL never:$missing")"

echo "chaos checker self-test: $((cases - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
