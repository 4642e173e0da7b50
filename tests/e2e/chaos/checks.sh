# shellcheck shell=bash
# The chaos suite's checker, over a run's recorded timeline (see chaos-lib.sh, which sources this
# file, for the records). Each chaos_check_* prints "PASS detail" or "FAIL detail".

# chaos_check_converged QUIET BOUND NODE : the VIP settled on one MASTER within BOUND seconds of
# QUIET and stayed so until the end of the observation, and the client's pings reach it.
chaos_check_converged() {
    local quiet=$1 bound=$2 node=$3 at
    if [ -z "$node" ]; then
        echo "FAIL not settled on a single MASTER within $(awk -v b="$bound" 'BEGIN { print b + 30 }')s ($(e2e_vip_facts))"
        return
    fi
    # The start of the last run of "ok" samples.
    at=$(awk '$2 == "ok" { if (!run) s = $1; run = 1; next } { run = 0 } END { if (run) print s }' "$RUN_DIR/chaos-settle.log")
    local secs
    secs=$(e2e_secs_between "$quiet" "${at:-$quiet}")
    if ! e2e_ping_reaches "$node" "$at" 3; then
        echo "FAIL settled on node $node +${secs}s, but the client's pings do not reach it"
    elif awk -v s="$secs" -v b="$bound" 'BEGIN { exit !(s <= b) }'; then
        echo "PASS node $node +${secs}s (bound ${bound}s)"
    else
        echo "FAIL node $node +${secs}s, over the bound ${bound}s"
    fi
}

# chaos_check_moves : no accepted MigratePrivateIpAddress while a single MASTER held the VIP
# (keepalived's states from the nodes' logs, "Stopping" as STOP, a stopped or killed keepalived as DOWN, the holder
# from the landings), over the whole run. Prints the number of moves.
chaos_check_moves() {
    local i out
    out=$(
        {
            for ((i = 1; i <= E2E_NODES; i++)); do
                # A keepalived that stops (a restart) logs "Stopping", not a state: it has left MASTER.
                awk -v n="$i" 'match($0, /Entering [A-Z]+ STATE/) { print $1, "S", n, substr($0, RSTART + 9, RLENGTH - 15) } / Stopping$/ { print $1, "S", n, "STOP" }' "$RUN_DIR/n$i/keepalived.log"
            done
            awk '$2 == "down" { print $1, "S", $3, "DOWN" } $2 == "up" { print $1, "S", $3, "INIT" }' "$RUN_DIR/chaos-events.log"
            for ((i = 1; i <= E2E_NODES; i++)); do
                awk -v n="$i" -v e="${NODE_ENI[i]}" -v v="$E2E_VIP" '$2 == v && $3 == e { print $1, "L", n }' "$RUN_DIR/landed.log"
            done
            e2e_calls MigratePrivateIpAddress | awk '$3 == "OK" { print $1, "M" }'
        } | sort -s -g -k1,1 | awk -v grace="$CHAOS_MOVE_GRACE_S" '
            function cond(    c, i, m) {
                c = 0
                for (i in st) if (st[i] == "MASTER") { c++; m = i }
                return (c == 1 && holder == m) ? m : ""
            }
            {
                if ($2 == "S") st[$3] = $4
                else if ($2 == "L") holder = $3
                else if ($2 == "M") {
                    moves++
                    if (since != "" && $1 - since >= grace) { bad++; detail = detail sprintf(" %.3f(node %s MASTER and holder for %.1fs)", $1, who, $1 - since) }
                }
                m = cond()
                if (m == "") { since = ""; who = "" }
                else if (m != who) { since = $1; who = m }
            }
            END { printf "%d %d%s\n", moves, bad, detail }'
    )
    local moves bad detail
    read -r moves bad detail <<<"$out"
    if [ "$bad" -eq 0 ]; then
        echo "PASS $moves moves, none while a single MASTER held the VIP"
    else
        echo "FAIL $bad of $moves moves while a single MASTER held the VIP:$detail"
    fi
}

# chaos_check_deadlines : no tcvip process seen alive past its deadline.
chaos_check_deadlines() {
    awk -v vm="$CHAOS_LIMIT_VIP_MIGRATE" -v cs="$CHAOS_LIMIT_CHECK_SELF" -v na="$CHAOS_LIMIT_NOTIFY_ACTION" -v other="$CHAOS_LIMIT_OTHER" -v ho="$CHAOS_LIMIT_HAND_OVER" '
        $5 == "Z" || $5 == "X" { next }
        {
            lim = ($4 == "vip-migrate") ? vm : ($4 == "check-self") ? cs : ($4 == "notify-action") ? na : ($4 == "hand-over") ? ho : other
            key = $2 " " $3 " " $4
            if ($6 > age[key]) age[key] = $6
            limit[key] = lim
            if ($6 > max[$4]) max[$4] = $6
        }
        END {
            for (k in age) if (age[k] > limit[k]) { bad++; detail = detail sprintf(" node/pid/comm %s alive %.1fs (limit %ss);", k, age[k], limit[k]) }
            for (c in max) oldest = oldest sprintf(" %s %.1fs", c, max[c])
            if (bad) printf "FAIL%s\n", detail
            else printf "PASS oldest:%s\n", (oldest == "" ? " none seen" : oldest)
        }' "$RUN_DIR/chaos-procs.log"
}

# chaos_check_panics : no panic in any node's tcvip log, and keepalived saw no script exit 101
# (Rust's panic exit code).
chaos_check_panics() {
    local hits
    hits=$(cat "$RUN_DIR"/n*/tcvip.log "$RUN_DIR"/n*/keepalived.log 2>/dev/null |
        grep -E "panicked|RUST_BACKTRACE|exited with status 101|status 101\b" | head -n 3 || true)
    if [ -z "$hits" ]; then
        echo "PASS no panic"
    else
        echo "FAIL ${hits//$'\n'/ | }"
    fi
}

# chaos_check_state_files : each node's state record, once written, never went missing or
# corrupt, its sequence number never went down, and at the end it says what keepalived says.
chaos_check_state_files() {
    local i problems="" rec st ks
    problems=$(awk '
        $4 == "MISSING" { if (seen[$2]) lost[$2]++; next }
        $4 == "CORRUPT" { corrupt[$2 " " $3]++; next }
        { k = $2 " " $3; seen[$2] = 1; if ($4 < last[k]) down[k]++; last[k] = $4 }
        END {
            for (n in lost) printf " node %s: no state record in %d samples after there was one;", n, lost[n]
            for (k in corrupt) printf " node/file %s: corrupt in %d samples;", k, corrupt[k]
            for (k in down) printf " node/file %s: sequence number went down %d times;", k, down[k]
        }' "$RUN_DIR/chaos-files.log")
    for ((i = 1; i <= E2E_NODES; i++)); do
        rec=$(cat "$RUN_DIR/n$i"/state/state-*.json 2>/dev/null) || { problems="$problems node $i: no state record at the end;"; continue; }
        st=""
        [[ "$rec" =~ \"state\":\"([A-Za-z_]+)\" ]] && st=${BASH_REMATCH[1]}
        ks=$(e2e_vrrp_state "$i")
        [ "${st^^}" = "$ks" ] || problems="$problems node $i: record says '$st', keepalived $ks;"
    done
    if [ -z "$problems" ]; then
        echo "PASS $(awk 'END { print NR }' "$RUN_DIR/chaos-files.log") samples, records agree with keepalived at the end"
    else
        echo "FAIL$problems"
    fi
}

# chaos_check_rates : for each action, the most calls fake-vpc received in any one second is
# within the account's documented limit (tencent-cloud-api.md; fake-vpc's own table).
chaos_check_rates() {
    e2e_calls | awk '
        BEGIN {
            split("MigratePrivateIpAddress 50 DescribeVpcTaskResult 20 DescribeNetworkInterfaces 100 AssignPrivateIpAddresses 100 UnassignPrivateIpAddresses 100 DescribeAddresses 20 AssociateAddress 10 AllocateAddresses 10 DisassociateAddress 10 DescribeTaskResult 20 DescribeHaVips 20", a, " ")
            for (i = 1; i in a; i += 2) lim[a[i]] = a[i + 1]
        }
        {
            act = $2; t = $1; n[act]++; times[act, n[act]] = t
            while (times[act, first[act] + 1] <= t - 1) first[act]++
            c = n[act] - first[act]
            if (c > peak[act]) peak[act] = c
            total++
        }
        END {
            for (act in peak) {
                l = (act in lim) ? lim[act] : 10
                s = s sprintf(" %s %d/%d", act, peak[act], l)
                if (peak[act] > l) bad = 1
            }
            printf "%s %d calls, peak per second:%s\n", (bad ? "FAIL" : "PASS"), total, s
        }'
}
