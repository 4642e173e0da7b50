# shellcheck shell=bash
# The chaos suite's plumbing (tests/e2e/chaos.sh, tests/e2e/chaos/seed.sh), on top of lib.sh:
#
#   chaos_schedule SEED DURATION [NODES]  a random, reproducible fault schedule (pure: the same
#                                          arguments always print the same lines, on any awk)
#   chaos_apply KIND ARGS...               one fault (or its undo) applied to the rehearsal
#   chaos_quiesce                          every fault undone, every node back and running
#   chaos_sampler_start                    a background sampler: tcvip processes' ages, state files
#   chaos_observe BOUND HOLD               after the faults: is the VIP settled on one MASTER?
#   chaos_check_*                          the checker, over the recorded timeline (chaos/checks.sh)
#
# Records (all under $RUN_DIR, kept with the logs of a failed run):
#   chaos-events.log   "EPOCH KIND ARGS" per applied fault; "EPOCH down N" / "EPOCH up N" when a
#                      node's keepalived stops or starts; "EPOCH quiet" when the checker's clock starts
#   chaos-procs.log    "EPOCH NODE PID COMM STATE AGE_S" per tcvip process seen, twice a second
#   chaos-files.log    "EPOCH NODE FILE SEQ STATE" per node's state record, twice a second
#                      ("- MISSING" when there is none, CORRUPT in place of SEQ STATE)
#   chaos-settle.log   "EPOCH ok|no MASTERS SETTLED-ON" after the faults, five times a second

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# keepalived-nopreempt.conf: advert_int 1, priority 100, 3 adverts -> master down after
# 3 x 1 + (256 - 100) / 256 x 1 s.
# shellcheck disable=SC2034 # read by chaos/seed.sh
CHAOS_DETECTION_S=3.61
CHAOS_BASE_LAG_MS=2000
# How long a tcvip process may live: its own deadline (README: failover.deadline_s 60,
# check.deadline_ms 2000, notify-action's lock wait 2 s, the hand-over run's 20 s) plus 1 s for
# exiting and sampling.
CHAOS_LIMIT_VIP_MIGRATE=61
CHAOS_LIMIT_HAND_OVER=21
CHAOS_LIMIT_CHECK_SELF=3
CHAOS_LIMIT_NOTIFY_ACTION=3
CHAOS_LIMIT_OTHER=10
# A move counts as one "while a single MASTER holds the VIP" when that was so for this long
# before the call (a moment less is a race with keepalived's own notification).
CHAOS_MOVE_GRACE_S=0.5

# ---------------------------------------------------------------------------------------------
# The data plane, made to follow the cloud when a node is unplugged

# lib.sh's on-change hook, but recording the landing before routing: a move that lands on an
# unplugged node (whose route cannot be set while its link is down) is still a landing — the
# cloud holds the VIP there — and the checker reads landed.log as the cloud's truth.
e2e_write_hook() {
    local hook="$RUN_DIR/on-change.sh"
    cat >"$hook" <<HOOK
#!/bin/bash
set -euo pipefail
echo "\$EPOCHREALTIME \$1 \$2 \$3" >>"$RUN_DIR/landed.log"
ip route replace "\$1/32" via "\$3"
HOOK
    chmod 0755 "$hook"
    touch "$RUN_DIR/landed.log"
    echo "$hook"
}

# chaos_plug N : e2e_node_plug, and the VIP routed to node N again when the cloud gave it to N
# while it was unplugged (as a VPC routes to the ENI that holds the IP, whatever happened to it).
chaos_plug() {
    e2e_node_plug "$1"
    [ "$(e2e_cloud_holder)" = "$1" ] &&
        ip -n "$(e2e_ns vpc)" route replace "$E2E_VIP/32" via "${NODE_IP[$1]}"
    return 0
}

# ---------------------------------------------------------------------------------------------
# The schedule

# chaos_schedule SEED DURATION [NODES] : prints the schedule: comment lines "# key value" (seed,
# duration, nodes, credentials, max_lag_ms), then "OFFSET_S KIND ARGS..." sorted by offset.
# Every fault has its undo in the schedule, within DURATION; the checker's clock starts once
# they are all undone and every node's keepalived is up again (MASTER or BACKUP). Park-Miller's generator, in awk's
# exact integer range, so the schedule is the same with mawk and gawk.
chaos_schedule() {
    local seed=$1 duration=$2 nodes=${3:-0}
    awk -v seed="$seed" -v D="$duration" -v nodes="$nodes" -v base_lag="$CHAOS_BASE_LAG_MS" '
        function rnd() { x = (x * 16807) % 2147483647; return x / 2147483647 }
        function randint(a, b) { return a + int(rnd() * (b - a + 1)) }
        function ev(t, text) { lines[++nl] = sprintf("%.2f %s", t, text) }
        function free_node(t,    c, i, n, cand) {
            c = 0
            for (i = 1; i <= nodes; i++) if (busy[i] <= t) cand[++c] = i
            if (c == 0) return 0
            return cand[randint(1, c)]
        }
        function dur(t, a, b,    d) { d = a + rnd() * (b - a); if (t + d > netend) d = netend - t; return d }
        BEGIN {
            # Park-Miller is linear in its seed: neighbouring seeds would draw neighbouring
            # numbers. Scramble the seed first (int() of a quotient is not linear).
            x = (seed % 2147483646) + 1
            for (i = 0; i < 6; i++) {
                x = (x * 16807) % 2147483647
                x = (x + int(x / 33554432) * 1000003 + 12345) % 2147483647
                if (x == 0) x = 1
            }
            for (i = 0; i < 8; i++) rnd()
            # Drawn even when --nodes is given, so that the seed still chooses the credentials.
            r = rnd()
            if (nodes == 0) nodes = (r < 0.34) ? 3 : 2
            creds = (rnd() < 0.5) ? "cvm-role" : "file"
            netend = D - 0.5
            max_lag = base_lag
            split("cut_both cut_one kill stop restart reload unplug dead throttle http500 garbage delay drop fail_task lag metadata expire", kinds, " ")
            split("8 8 8 6 5 5 6 5 6 5 4 4 4 4 4 4 3", weights, " ")
            total = 0
            for (k in weights) total += weights[k]
            split("MigratePrivateIpAddress DescribeNetworkInterfaces DescribeVpcTaskResult any", actions, " ")
            t = 1 + rnd() * 2
            while (t < D - 1) {
                r = rnd() * total
                for (k = 1; r >= weights[k]; k++) r -= weights[k]
                kind = kinds[k]
                net = (kind ~ /^(cut_both|cut_one|kill|stop|restart|reload|unplug|dead|metadata)$/)
                if (net && t > netend - 1.5) kind = "throttle"
                if (kind == "expire" && creds != "cvm-role") kind = "drop"
                if (kind == "cut_both" && cut_until <= t) {
                    d = dur(t, 3, 15); cut_until = t + d + 1
                    ev(t, "cut_both"); ev(t + d, "heal_both")
                } else if (kind == "cut_one") {
                    n = randint(1, nodes)
                    if (cut_from[n] <= t) {
                        d = dur(t, 3, 15); cut_from[n] = t + d + 1
                        ev(t, "cut_from " n); ev(t + d, "heal_from " n)
                    }
                } else if (kind == "kill" && (n = free_node(t))) {
                    d = dur(t, 2, 10); busy[n] = t + d + 2
                    ev(t, "kill " n); ev(t + d, "start " n)
                } else if (kind == "stop" && (n = free_node(t))) {
                    d = dur(t, 1, 8); busy[n] = t + d + 1
                    ev(t, "sigstop " n); ev(t + d, "sigcont " n)
                } else if (kind == "restart" && (n = free_node(t))) {
                    busy[n] = t + 3
                    ev(t, "restart " n)
                } else if (kind == "reload" && (n = free_node(t))) {
                    busy[n] = t + 2
                    ev(t, "reload " n)
                } else if (kind == "unplug" && (n = free_node(t))) {
                    d = dur(t, 2, 12); busy[n] = t + d + 1
                    ev(t, "unplug " n); ev(t + d, "plug " n)
                } else if (kind == "dead" && (n = free_node(t))) {
                    d = dur(t, 3, 12); busy[n] = t + d + 2
                    ev(t, "dead " n); ev(t + d, "revive " n)
                } else if (kind == "metadata" && meta_until <= t) {
                    d = dur(t, 2, 10); meta_until = t + d + 1
                    ev(t, "metadata_down"); ev(t + d, "metadata_up")
                } else if (kind == "lag") {
                    split("500 1000 3000 5000 6000", lags, " ")
                    ms = lags[randint(1, 5)]
                    if (ms > max_lag) max_lag = ms
                    ev(t, "lag " ms)
                    back = t + 4 + rnd() * 10
                    if (back > D - 0.5) back = D - 0.5
                    ev(back, "lag " base_lag)
                } else if (kind == "throttle") {
                    ev(t, "api " actions[randint(1, 4)] " " randint(1, 3) " throttle")
                } else if (kind == "http500") {
                    ev(t, "api " actions[randint(1, 4)] " " randint(1, 3) " http500")
                } else if (kind == "garbage") {
                    ev(t, "api " actions[randint(1, 4)] " " randint(1, 2) " garbage")
                } else if (kind == "delay") {
                    ev(t, "api " actions[randint(1, 4)] " " randint(1, 2) " delay " randint(5, 40) * 100)
                } else if (kind == "drop") {
                    ev(t, "api " actions[randint(1, 4)] " " randint(1, 2) " drop")
                } else if (kind == "fail_task") {
                    ev(t, "fail_task")
                } else if (kind == "expire") {
                    ev(t, "expire_credentials")
                }
                t += 1 + rnd() * 4
            }
            printf "# seed %s\n# duration %s\n# nodes %d\n# credentials %s\n# max_lag_ms %d\n", seed, D, nodes, creds, max_lag
            for (i = 1; i <= nl; i++) print lines[i] | "sort -s -g -k1,1"
            close("sort -s -g -k1,1")
        }'
}

# chaos_schedule_get FILE KEY -> the value of a "# KEY VALUE" line of a printed schedule.
chaos_schedule_get() { awk -v k="$2" '$1 == "#" && $2 == k { print $3; exit }' "$1"; }

# ---------------------------------------------------------------------------------------------
# Applying faults

chaos_event() { echo "$EPOCHREALTIME $*" >>"$RUN_DIR/chaos-events.log"; }

# The keepalived pids of node N (main, VRRP, checkers), those that exist.
chaos_keepalived_pids() {
    local f
    for f in "$RUN_DIR/n$1"/{keepalived,vrrp,checkers}.pid; do
        [ -f "$f" ] && cat "$f" 2>/dev/null
    done
    return 0
}

# VRRP from node N dropped in the router (one way: N's adverts reach nobody, N still hears the
# others). Priorities 101.. are ours; lib.sh's both-way cut is 100.
chaos_cut_from() { ip -n "$(e2e_ns vpc)" rule add priority $((100 + $1)) iif "r-n$1" ipproto vrrp blackhole; }
chaos_heal_from() { ip -n "$(e2e_ns vpc)" rule del priority $((100 + $1)) 2>/dev/null || true; }

# A real crash of node N's keepalived, as e2e_keepalived_crash but without its race: the main
# process is stopped first, so it cannot respawn the VRRP child killed under it (seen under load:
# the respawned child kept running, MASTER, after both SIGKILLs).
chaos_crash() {
    local dir="$RUN_DIR/n$1" main vrrp pid
    main=$(cat "$dir/keepalived.pid" 2>/dev/null) || main=""
    [ -n "$main" ] && kill -STOP "$main" 2>/dev/null
    vrrp=$(cat "$dir/vrrp.pid" 2>/dev/null) || vrrp=""
    [ -n "$vrrp" ] && kill -KILL "$vrrp" 2>/dev/null
    e2e_mark "n$1_crashed"
    for pid in $main $(cat "$dir/checkers.pid" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    e2e_wait_until 5 "node $1's keepalived gone" e2e_keepalived_gone "$1"
    rm -f "$dir"/keepalived.pid "$dir"/vrrp.pid "$dir"/checkers.pid
}

chaos_start() {
    e2e_keepalived_start "$1"
    chaos_event up "$1"
}

# chaos_apply KIND ARGS... : one line of the schedule (without its offset).
chaos_apply() {
    local kind=$1 n=${2:-} pid
    chaos_event "$@"
    case "$kind" in
        cut_both) e2e_vrrp_cut ;;
        heal_both) e2e_vrrp_heal ;;
        cut_from) chaos_cut_from "$n" ;;
        heal_from) chaos_heal_from "$n" ;;
        kill)
            chaos_crash "$n"
            chaos_event down "$n"
            ;;
        start) chaos_start "$n" ;;
        sigstop)
            for pid in $(chaos_keepalived_pids "$n"); do kill -STOP "$pid" 2>/dev/null || true; done
            ;;
        sigcont)
            for pid in $(chaos_keepalived_pids "$n"); do kill -CONT "$pid" 2>/dev/null || true; done
            ;;
        restart)
            e2e_keepalived_stop "$n"
            chaos_event down "$n"
            chaos_start "$n"
            ;;
        reload) kill -HUP "$(cat "$RUN_DIR/n$n/keepalived.pid")" ;;
        unplug) e2e_node_unplug "$n" ;;
        plug) chaos_plug "$n" ;;
        dead)
            e2e_node_unplug "$n"
            chaos_crash "$n"
            chaos_event down "$n"
            ;;
        revive)
            chaos_plug "$n"
            chaos_start "$n"
            ;;
        metadata_down) e2e_control POST metadata '{"available":false}' >/dev/null ;;
        metadata_up) e2e_control POST metadata '{"available":true}' >/dev/null ;;
        lag) e2e_control POST lag "{\"ms\":$n}" >/dev/null ;;
        fail_task) e2e_control POST fail-next-task >/dev/null ;;
        expire_credentials) e2e_control POST expire-credentials >/dev/null ;;
        api)
            local action=$2 count=$3 what=$4 arg=${5:-} fault a
            case "$what" in
                throttle) fault='{"kind":"api_error","code":"RequestLimitExceeded","message":"throttled by the chaos schedule"}' ;;
                http500) fault='{"kind":"http500"}' ;;
                garbage) fault='{"kind":"garbage"}' ;;
                delay) fault="{\"kind\":\"delay\",\"ms\":$arg}" ;;
                drop) fault='{"kind":"drop"}' ;;
                *) e2e_fail "chaos: unknown API fault $what" ;;
            esac
            a="\"$action\""
            [ "$action" = any ] && a=null
            e2e_control POST fault "{\"action\":$a,\"count\":$count,\"fault\":$fault}" >/dev/null
            ;;
        *) e2e_fail "chaos: unknown schedule entry: $*" ;;
    esac
}

# chaos_run_schedule FILE T0 : applies each line of the schedule at T0 + its offset.
chaos_run_schedule() {
    local file=$1 t0=$2 off rest wait
    while read -r off rest; do
        [ "$off" = "#" ] && continue
        wait=$(awk -v t0="$t0" -v o="$off" -v n="$EPOCHREALTIME" 'BEGIN { w = t0 + o - n; printf "%.3f", (w > 0 ? w : 0) }')
        sleep "$wait"
        e2e_log "chaos +${off}s: $rest"
        # shellcheck disable=SC2086 # the schedule's words
        chaos_apply $rest
    done <"$file"
}

# chaos_quiesce : whatever the schedule left behind is undone (it should have left nothing but
# unconsumed API faults): VRRP healed both ways, keepalived continued, nodes plugged in and
# running, metadata up, the landing lag back to its base, the queued API faults dropped.
chaos_quiesce() {
    local i vpc
    vpc=$(e2e_ns vpc)
    e2e_control POST clear-faults >/dev/null
    e2e_control POST lag "{\"ms\":$CHAOS_BASE_LAG_MS}" >/dev/null
    e2e_control POST metadata '{"available":true}' >/dev/null
    while ip -n "$vpc" rule del priority 100 2>/dev/null; do :; done
    for ((i = 1; i <= E2E_NODES; i++)); do
        chaos_heal_from "$i"
        local pid
        for pid in $(chaos_keepalived_pids "$i"); do kill -CONT "$pid" 2>/dev/null || true; done
        ip -n "$vpc" link show "r-n$i" | grep -q ',UP' || chaos_plug "$i"
        e2e_keepalived_running "$i" || chaos_start "$i"
    done
}

# Every node's keepalived runs and is MASTER or BACKUP (not starting, not FAULT).
chaos_nodes_ready() {
    local i s
    for ((i = 1; i <= E2E_NODES; i++)); do
        s=$(e2e_vrrp_state "$i")
        [ "$s" = MASTER ] || [ "$s" = BACKUP ] || return 1
    done
}

# ---------------------------------------------------------------------------------------------
# The sampler: tcvip processes and state records, twice a second, until the run ends.

chaos_sampler_start() {
    (
        trap 'exit 0' TERM
        tck=$(getconf CLK_TCK)
        while true; do
            read -r up _ </proc/uptime
            for ((i = 1; i <= E2E_NODES; i++)); do
                for pid in $(ip netns pids "$(e2e_ns "n$i")" 2>/dev/null); do
                    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
                    comm=${stat#*(}
                    comm=${comm%%)*}
                    case "$comm" in notify-action | vip-migrate | vip-query | check-self | tcvip) ;; *) continue ;; esac
                    # The hand-over run is notify-action too, with a deadline of its own.
                    if [ "$comm" = notify-action ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--hand-over'; then
                        comm=hand-over
                    fi
                    rest=${stat##*) }
                    read -r -a fields <<<"$rest"
                    # fields[0] is the state (field 3), fields[19] the start time (field 22).
                    printf '%s %s %s %s %s %s\n' "$EPOCHREALTIME" "$i" "$pid" "$comm" "${fields[0]}" \
                        "$(awk -v u="$up" -v s="${fields[19]}" -v t="$tck" 'BEGIN { printf "%.2f", u - s / t }')"
                done
                chaos_sample_files "$i" >>"$RUN_DIR/chaos-files.log"
            done >>"$RUN_DIR/chaos-procs.log"
            sleep 0.5
        done
    ) &
    E2E_BG_PIDS+=("$!")
    CHAOS_SAMPLER_PID=$!
}

# chaos_sample_files N : node N's state records ("EPOCH N NAME SEQ STATE" each, or
# "EPOCH N - MISSING" when there is none) and caches ("EPOCH N NAME CORRUPT" for one that is not
# one whole JSON object); a corrupt file's content goes to chaos-corrupt-nN.log.
chaos_sample_files() {
    local n=$1 f rec seq st name found=false
    for f in "$RUN_DIR/n$n"/state/state-*.json "$RUN_DIR/n$n"/state/cache-*.json; do
        [ -e "$f" ] || continue
        name=${f##*/}
        rec=$(cat "$f" 2>/dev/null) || continue
        if [[ "$rec" != "{"*"}" ]]; then
            echo "$EPOCHREALTIME $n $name CORRUPT"
            printf '%s %s: %s\n' "$EPOCHREALTIME" "$name" "$rec" >>"$RUN_DIR/chaos-corrupt-n$n.log"
            continue
        fi
        [[ "$name" == state-* ]] || continue
        found=true
        seq=""
        st=""
        [[ "$rec" =~ \"seq\":([0-9]+) ]] && seq=${BASH_REMATCH[1]}
        [[ "$rec" =~ \"state\":\"([A-Za-z_]+)\" ]] && st=${BASH_REMATCH[1]}
        if [ -n "$seq" ] && [ -n "$st" ] && [[ "$rec" == *'"instance":"'* ]]; then
            echo "$EPOCHREALTIME $n $name $seq $st"
        else
            echo "$EPOCHREALTIME $n $name CORRUPT"
            printf '%s %s: %s\n' "$EPOCHREALTIME" "$name" "$rec" >>"$RUN_DIR/chaos-corrupt-n$n.log"
        fi
    done
    $found || echo "$EPOCHREALTIME $n - MISSING"
}

chaos_sampler_stop() {
    [ -n "${CHAOS_SAMPLER_PID:-}" ] && kill -TERM "$CHAOS_SAMPLER_PID" 2>/dev/null
    wait "$CHAOS_SAMPLER_PID" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# After the faults: the VIP settled on one MASTER?

# One line for chaos-settle.log: "ok MASTER NODE" when exactly one node is MASTER and the VIP is
# settled on it (cloud, route, NIC, no other NIC); "no MASTERS -" otherwise.
chaos_settle_sample() {
    local m
    m=$(e2e_masters)
    if [ -n "$m" ] && [ "${m// /}" = "$m" ] && e2e_vip_settled_on "$m"; then
        echo "$EPOCHREALTIME ok $m $m"
    else
        echo "$EPOCHREALTIME no ${m:-none} -"
    fi
}

# chaos_observe BOUND HOLD : samples from now until the VIP has stayed settled on one MASTER for
# HOLD seconds, or BOUND + 30 s have passed. Prints the node it settled on (or nothing).
chaos_observe() {
    local bound=$1 hold=$2 start=$EPOCHREALTIME line ok_since="" end
    end=$(awk -v n="$start" -v b="$bound" 'BEGIN { printf "%.3f", n + b + 30 }')
    while true; do
        line=$(chaos_settle_sample)
        echo "$line" >>"$RUN_DIR/chaos-settle.log"
        # shellcheck disable=SC2086 # its words
        set -- $line
        if [ "$2" = ok ]; then
            [ -n "$ok_since" ] || ok_since=$1
            if awk -v n="$1" -v s="$ok_since" -v h="$hold" 'BEGIN { exit !(n - s >= h) }'; then
                echo "$3"
                return 0
            fi
        else
            ok_since=""
        fi
        awk -v n="$EPOCHREALTIME" -v e="$end" 'BEGIN { exit !(n > e) }' && return 0
        sleep 0.2
    done
}

# The checker: chaos_check_* (tests/e2e/chaos/checks.sh).
# shellcheck source=SCRIPTDIR/chaos/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/chaos/checks.sh"
