# shellcheck shell=bash
# The failover rehearsal's plumbing, sourced by tests/e2e/scenarios/*.sh and scripts/demo.sh.
#
# A simulated VPC in network namespaces, all addresses in 198.18.0.0/15, every name carrying a
# per-run id (parallel or leftover runs never collide):
#
#   client ns  eth0 198.19.0.2/24 ── r-cl 198.19.0.1 ┐
#                                                    │  vpc ns: the VPC's router (IP forwarding),
#   node ns 1  eth0 198.18.1.11/24 ── r-n1 ──────────┤  fake-vpc on 198.18.0.1:80 (API and
#   node ns 2  eth0 198.18.1.12/24 ── r-n2 ──────────┤  metadata), the gateway 198.18.1.1 on
#   (node ns 3 eth0 198.18.1.13/24 ── r-n3) ─────────┘  each node link
#
# Each node has its own point-to-point veth to the router, which reaches a node's primary IP by a
# /32 host route and answers the nodes' ARP for the subnet (proxy ARP), as a VPC's fabric does.
# The VIP is routed `via` the primary IP of the node whose ENI holds it in fake-vpc, set only by
# fake-vpc's on-change hook: a node's gratuitous ARP cannot change where the VIP goes. With a
# HAVIP topology (a [[havip]] whose vip is the VIP) it can, as in a real VPC: fake-vpc listens on
# the router's node links (--garp-listen) and binds the HAVIP to the node whose gratuitous ARP it
# saw last, after its learning delay; the same hook then routes it.
# A node's eth0 carries its ENI's MAC. Each node answers pings with its own IP TTL (100 + n), so
# the client sees which node replied (TTL 99 + n after the router's hop).
#
# keepalived (Debian's) runs per node with its own pid files, VRRP unicast between the primary
# IPs through the router. The VRRP link is cut with an `ip rule ... ipproto vrrp blackhole` in the
# router, which drops VRRP and nothing else.
#
# Teardown on EXIT, INT and TERM: every process in the run's namespaces is killed, the
# namespaces (and with them every veth and address) deleted, the run directory removed. Logs are
# kept under $E2E_KEEP_DIR (default /tmp) when the run failed.

# ---------------------------------------------------------------------------------------------
# Constants

# keepalived and ip live in sbin, which a non-login root shell may not have on its PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DIR="$E2E_REPO/tests/e2e"
E2E_VIP=198.18.1.100
E2E_API_IP=198.18.0.1
E2E_API_PORT=80
E2E_GATEWAY=198.18.1.1
E2E_CLIENT_IP=198.19.0.2
E2E_CLIENT_GW=198.19.0.1
E2E_PING_INTERVAL=0.05
E2E_SECRET_ID=AKIDTCVIPDEMO00000000000000000000000
E2E_SECRET_KEY=tcvipDemoSecretKey00000000000000

# Run state (set by e2e_init and friends; read by the scripts that source this file).
# shellcheck disable=SC2034
RUN=""
RUN_DIR=""
E2E_T0=""
E2E_FAILED=0
E2E_NETNS=()
E2E_BG_PIDS=()
E2E_NODES=0
NODE_IP=()
NODE_MAC=()
NODE_ENI=()
NODE_INS=()
E2E_INITIAL_HOLDER=""
# secondary-ip, or havip when the topology has a [[havip]] for the VIP (E2E_HAVIP_ID its id).
E2E_KIND=secondary-ip
E2E_HAVIP_ID=""

# ---------------------------------------------------------------------------------------------
# Logging and time

e2e_now() { printf '%s\n' "$EPOCHREALTIME"; }

# Seconds since the run started, e.g. "12.34".
e2e_elapsed() { e2e_secs_between "$E2E_T0" "$EPOCHREALTIME"; }

# e2e_secs_between FROM TO -> "TO-FROM" in seconds with two decimals.
e2e_secs_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }

e2e_log() { printf '[%7ss] %s\n' "$(e2e_elapsed)" "$*" >&2; }

e2e_fail() {
    E2E_FAILED=1
    printf '[%7ss] FAIL: %s\n' "$(e2e_elapsed)" "$*" >&2
    e2e_stall_report
    exit 1
}

# keepalived logs it when its event loop ran late (the machine too loaded to keep VRRP's
# timers): a node that misses adverts that way takes over. Said next to any failure.
e2e_stall_report() {
    [ -n "$RUN_DIR" ] || return 0
    local f
    for f in "$RUN_DIR"/n*/keepalived.log; do
        [ -f "$f" ] || continue
        grep -h "thread timer expired" "$f" 2>/dev/null | sed "s|^|  stalled keepalived, ${f#"$RUN_DIR"/}: |" >&2
    done
    return 0
}

# e2e_wait_until TIMEOUT_S DESCRIPTION COMMAND... : polls COMMAND every 0.1 s until it succeeds;
# fails the run at the deadline.
e2e_wait_until() {
    local timeout=$1 what=$2
    shift 2
    if ! e2e_poll "$timeout" "$@"; then
        e2e_fail "timed out after ${timeout}s waiting for: $what"
    fi
}

# e2e_poll TIMEOUT_S COMMAND... : like e2e_wait_until, but returns 1 at the deadline.
e2e_poll() {
    local timeout=$1
    shift
    local deadline
    deadline=$(awk -v n="$EPOCHREALTIME" -v t="$timeout" 'BEGIN { printf "%.3f", n + t }')
    while true; do
        if "$@"; then
            return 0
        fi
        if awk -v n="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
            return 1
        fi
        sleep 0.1
    done
}

# e2e_hold SECONDS DESCRIPTION COMMAND... : COMMAND must keep succeeding, polled every 0.2 s,
# for SECONDS (an observation window, not a wait); fails the run at the first failure.
e2e_hold() {
    local secs=$1 what=$2
    shift 2
    local end
    end=$(awk -v n="$EPOCHREALTIME" -v t="$secs" 'BEGIN { printf "%.3f", n + t }')
    while awk -v n="$EPOCHREALTIME" -v d="$end" 'BEGIN { exit !(n < d) }'; do
        "$@" || e2e_fail "no longer true: $what"
        sleep 0.2
    done
}

e2e_not() { ! "$@"; }

# e2e_mark NAME : records "NAME EPOCH" in the run's timeline.
e2e_mark() { printf '%s %s\n' "$1" "${2:-$EPOCHREALTIME}" >>"$RUN_DIR/marks"; }

# e2e_mark_time NAME -> the epoch recorded for NAME (last one), or nothing.
e2e_mark_time() { awk -v n="$1" '$1 == n { t = $2 } END { if (t != "") print t }' "$RUN_DIR/marks" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Preconditions

# Fails loudly (never skips) when the rehearsal cannot run here.
e2e_require() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "e2e: the failover rehearsal needs root (network namespaces, keepalived); run it with sudo" >&2
        exit 1
    fi
    if ! "$E2E_REPO/scripts/e2e-deps.sh"; then
        echo "e2e: required packages are missing and could not be installed" >&2
        exit 1
    fi
    local cmd
    for cmd in ip keepalived ping curl awk timeout; do
        command -v "$cmd" >/dev/null 2>&1 || {
            echo "e2e: '$cmd' not found" >&2
            exit 1
        }
    done
}

# ---------------------------------------------------------------------------------------------
# Run setup and teardown

# e2e_init : a fresh run id and directory, and the teardown trap.
e2e_init() {
    E2E_T0=$EPOCHREALTIME
    e2e_reap_stale
    RUN=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
    # Under /run: root-owned and not world-writable, so keepalived's script security accepts the
    # binaries installed below it.
    RUN_DIR="/run/tcvip-e2e-$RUN"
    mkdir -m 0755 "$RUN_DIR"
    echo "$$" >"$RUN_DIR/owner.pid"
    : >"$RUN_DIR/marks"
    trap e2e_teardown EXIT
    trap 'E2E_FAILED=1; echo "e2e: interrupted" >&2; exit 130' INT
    trap 'E2E_FAILED=1; echo "e2e: terminated" >&2; exit 143' TERM
    e2e_log "run $RUN in $RUN_DIR"
}

e2e_ns() { printf 'tcvip-%s-%s\n' "$RUN" "$1"; }

# Kills every process in one of our namespaces: TERM, then KILL for what is left after 2 s.
e2e_kill_ns_pids() {
    local ns=$1 pids
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    # shellcheck disable=SC2086 # a list of pids
    kill -TERM $pids 2>/dev/null || true
    local i
    for ((i = 0; i < 20; i++)); do
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        [ -n "${pids// /}" ] || return 0
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

e2e_teardown() {
    local status=${1:-$?}
    # Never stop half-way: no errexit in here.
    set +e
    trap - EXIT INT TERM
    [ "$status" -ne 0 ] && E2E_FAILED=1
    [ -n "$RUN_DIR" ] || return "$status"
    local ns pid
    # keepalived first (by its pid files), so that it stops before its namespace goes.
    for pid in "$RUN_DIR"/n*/keepalived.pid; do
        [ -f "$pid" ] && kill -TERM "$(cat "$pid")" 2>/dev/null
    done
    for ns in "${E2E_NETNS[@]}"; do
        e2e_kill_ns_pids "$ns"
    done
    for pid in "${E2E_BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for ns in "${E2E_NETNS[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ "$E2E_FAILED" -ne 0 ] || [ -n "${E2E_KEEP_LOGS:-}" ]; then
        local keep="${E2E_KEEP_DIR:-/tmp}/tcvip-e2e-$RUN"
        mkdir -p "$keep"
        (cd "$RUN_DIR" && find . -type f \( -name '*.log' -o -name '*.conf' -o -name '*.toml' \
            -o -name '*.jsonl' -o -name marks -o -name '*.json' -o -name '*.out' \) -print0 |
            xargs -0 -r cp --parents -t "$keep") 2>/dev/null || true
        echo "e2e: logs kept in $keep" >&2
    fi
    rm -rf "$RUN_DIR"
    return "$status"
}

# A run killed by SIGKILL could not clean up: remove namespaces and directories of runs whose
# owner process is gone.
e2e_reap_stale() {
    local dir run owner ns
    for dir in /run/tcvip-e2e-*; do
        [ -d "$dir" ] || continue
        owner=$(cat "$dir/owner.pid" 2>/dev/null || echo 0)
        # Alive and not a zombie (an orphan may wait a while to be reaped): still running.
        if [ "$owner" -gt 0 ] && [ -r "/proc/$owner/stat" ] &&
            [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$owner/stat" 2>/dev/null)" != Z ]; then
            continue
        fi
        run=${dir#/run/tcvip-e2e-}
        for ns in $(ip netns list | awk -v p="tcvip-$run-" 'index($1, p) == 1 { print $1 }'); do
            e2e_kill_ns_pids "$ns"
            ip netns del "$ns" 2>/dev/null || true
        done
        rm -rf "$dir"
        echo "e2e: removed leftovers of run $run" >&2
    done
}

# ---------------------------------------------------------------------------------------------
# Topology

# e2e_load_topology FILE : NODE_IP/NODE_MAC/NODE_ENI/NODE_INS from fake-vpc's topology (one node
# per primary ENI, in file order), and which node's ENI holds the VIP at start.
e2e_load_topology() {
    local file=$1 i=0 id mac ip ins holds
    NODE_IP=("")
    NODE_MAC=("")
    NODE_ENI=("")
    NODE_INS=("")
    E2E_INITIAL_HOLDER=""
    while read -r id mac ip ins holds; do
        i=$((i + 1))
        NODE_ENI[i]=$id
        NODE_MAC[i]=$mac
        NODE_IP[i]=$ip
        # shellcheck disable=SC2034 # for the scripts that source this file
        NODE_INS[i]=$ins
        # shellcheck disable=SC2034
        [ "$holds" = yes ] && E2E_INITIAL_HOLDER=$i
    done < <(awk -v vip="\"$E2E_VIP\"" '
        function flush() { if (id != "" && primary == "true") print id, mac, ip, ins, (holds ? "yes" : "no") }
        /^\[\[/ { flush(); in_eni = ($0 ~ /^\[\[eni\]\]/); id = mac = ip = ins = primary = ""; holds = 0; next }
        !in_eni { next }
        { line = $0; sub(/#.*/, "", line) }
        line ~ /^[ \t]*id[ \t]*=/ { split(line, a, "\""); id = a[2] }
        line ~ /^[ \t]*mac[ \t]*=/ { split(line, a, "\""); mac = a[2] }
        line ~ /^[ \t]*primary_ip[ \t]*=/ { split(line, a, "\""); ip = a[2] }
        line ~ /^[ \t]*instance[ \t]*=/ { split(line, a, "\""); ins = a[2] }
        line ~ /^[ \t]*primary[ \t]*=/ { primary = (line ~ /true/) ? "true" : "false" }
        line ~ /^[ \t]*secondary_ips[ \t]*=/ && index(line, vip) { holds = 1 }
        END { flush() }' "$file")
    E2E_NODES=$i
    [ "$E2E_NODES" -ge 2 ] || e2e_fail "topology $file: fewer than two nodes"
    E2E_KIND=secondary-ip
    E2E_HAVIP_ID=""
    local havip_eni=""
    read -r E2E_HAVIP_ID havip_eni < <(awk -v vip="\"$E2E_VIP\"" '
        function flush() { if (id != "" && hit) { print id, (eni == "" ? "-" : eni); done = 1 } }
        /^\[\[/ { if (!done) flush(); in_h = ($0 ~ /^\[\[havip\]\]/); id = eni = ""; hit = 0; next }
        !in_h { next }
        { line = $0; sub(/#.*/, "", line) }
        line ~ /^[ \t]*id[ \t]*=/ { split(line, a, "\""); id = a[2] }
        line ~ /^[ \t]*eni[ \t]*=/ { split(line, a, "\""); eni = a[2] }
        line ~ /^[ \t]*vip[ \t]*=/ && index(line, vip) { hit = 1 }
        END { if (!done) flush() }' "$file") || true
    if [ -n "$E2E_HAVIP_ID" ]; then
        E2E_KIND=havip
        E2E_INITIAL_HOLDER=""
        [ "$havip_eni" != - ] && E2E_INITIAL_HOLDER=$(e2e_node_of_eni "$havip_eni")
    fi
    return 0
}

# e2e_node_of_ip IP -> node number, or nothing
e2e_node_of_ip() {
    local i
    for ((i = 1; i <= E2E_NODES; i++)); do
        [ "${NODE_IP[i]}" = "$1" ] && echo "$i" && return 0
    done
    return 1
}

e2e_node_of_eni() {
    local i
    for ((i = 1; i <= E2E_NODES; i++)); do
        [ "${NODE_ENI[i]}" = "$1" ] && echo "$i" && return 0
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Network

# e2e_net_up : the router, one namespace per node of the loaded topology, and the client.
e2e_net_up() {
    local vpc cl i ns
    vpc=$(e2e_ns vpc)
    cl=$(e2e_ns cl)
    ip netns add "$vpc"
    E2E_NETNS+=("$vpc")
    ip -n "$vpc" link set lo up
    ip -n "$vpc" addr add "$E2E_API_IP/32" dev lo
    ip netns exec "$vpc" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
        net.ipv4.conf.default.send_redirects=0

    for ((i = 1; i <= E2E_NODES; i++)); do
        ns=$(e2e_ns "n$i")
        ip netns add "$ns"
        E2E_NETNS+=("$ns")
        ip -n "$vpc" link add "r-n$i" type veth peer name eth0 netns "$ns"
        ip -n "$vpc" addr add "$E2E_GATEWAY/32" dev "r-n$i"
        ip netns exec "$vpc" sysctl -qw "net.ipv4.conf.r-n$i.proxy_arp=1"
        ip -n "$vpc" link set "r-n$i" up
        ip -n "$vpc" route add "${NODE_IP[i]}/32" dev "r-n$i" src "$E2E_GATEWAY"

        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 address "${NODE_MAC[i]}"
        ip -n "$ns" addr add "${NODE_IP[i]}/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default via "$E2E_GATEWAY" dev eth0 src "${NODE_IP[i]}"
        ip netns exec "$ns" sysctl -qw "net.ipv4.ip_default_ttl=$((100 + i))"
    done

    ip netns add "$cl"
    E2E_NETNS+=("$cl")
    ip -n "$vpc" link add r-cl type veth peer name eth0 netns "$cl"
    ip -n "$vpc" addr add "$E2E_CLIENT_GW/24" dev r-cl
    ip -n "$vpc" link set r-cl up
    ip -n "$cl" link set lo up
    ip -n "$cl" addr add "$E2E_CLIENT_IP/24" dev eth0
    ip -n "$cl" link set eth0 up
    ip -n "$cl" route add default via "$E2E_CLIENT_GW"

    for ((i = 1; i <= E2E_NODES; i++)); do
        e2e_wait_until 10 "node $i reaches the router" \
            ip netns exec "$(e2e_ns "n$i")" ping -c1 -W1 -q "$E2E_GATEWAY" >/dev/null
    done
    e2e_log "network up: router, $E2E_NODES nodes, client"
}

# Run a command in a namespace: e2e_in vpc|cl|nN CMD...
e2e_in() {
    local ns
    ns=$(e2e_ns "$1")
    shift
    ip netns exec "$ns" "$@"
}

# The node the router sends the VIP to (from its route), or nothing.
e2e_router_vip_node() {
    local via
    via=$(ip -n "$(e2e_ns vpc)" -4 route show "$E2E_VIP/32" | awk '{ for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1) }')
    [ -n "$via" ] && e2e_node_of_ip "$via"
}

# Whether node N has the VIP on its eth0 (exact match).
e2e_nic_has_vip() {
    ip -n "$(e2e_ns "n$1")" -4 -o addr show dev eth0 | awk -v v="$E2E_VIP" '{ split($4, a, "/"); if (a[1] == v) f = 1 } END { exit !f }'
}

# Nodes whose NIC has the VIP, space-separated.
e2e_nics_with_vip() {
    local i out=""
    for ((i = 1; i <= E2E_NODES; i++)); do
        e2e_nic_has_vip "$i" && out="$out $i"
    done
    echo "${out# }"
}

# Take node N off the network (as if powered off) / put it back: its link in the router goes
# down, which also drops the router's routes through it; plugging restores the host route (the
# VIP's route is fake-vpc's business).
e2e_node_unplug() { ip -n "$(e2e_ns vpc)" link set "r-n$1" down; }
e2e_node_plug() {
    ip -n "$(e2e_ns vpc)" link set "r-n$1" up
    ip -n "$(e2e_ns vpc)" route replace "${NODE_IP[$1]}/32" dev "r-n$1" src "$E2E_GATEWAY"
}

# Cut / heal VRRP between the nodes (in the router; everything else still flows).
e2e_vrrp_cut() {
    ip -n "$(e2e_ns vpc)" rule add priority 100 ipproto vrrp blackhole
    e2e_mark vrrp_cut
}
e2e_vrrp_heal() {
    ip -n "$(e2e_ns vpc)" rule del priority 100 ipproto vrrp blackhole
    e2e_mark vrrp_healed
}

# ---------------------------------------------------------------------------------------------
# The client's pinger: 20 pings a second at the VIP, each line stamped (ping -D).

# e2e_ping_start [ADDRESS LOG] : the pinger at the VIP into ping.log, or at ADDRESS into LOG (a
# file name in the run directory). The e2e_ping_* functions read $E2E_PING_LOG (default
# ping.log).
E2E_PING_LOG=ping.log
e2e_ping_start() {
    local to=${1:-$E2E_VIP} log=${2:-ping.log}
    e2e_in cl stdbuf -oL ping -D -n -O -i "$E2E_PING_INTERVAL" -W 1 "$to" >"$RUN_DIR/$log" 2>&1 &
    E2E_BG_PIDS+=("$!")
}

# Replies in $E2E_PING_LOG as "EPOCH NODE" lines (the node told by the reply's TTL).
e2e_ping_replies() {
    awk '/bytes from/ { t = $1; gsub(/[\[\]]/, "", t); for (i = 2; i <= NF; i++) if ($i ~ /^ttl=/) { sub(/ttl=/, "", $i); print t, $i - 99 } }' \
        "$RUN_DIR/$E2E_PING_LOG" 2>/dev/null
}

# e2e_ping_outage FROM [TO] -> the longest time without any reply between FROM and TO (default
# now), in seconds (gap between consecutive replies, less one ping interval; the last reply
# before FROM counts as the start).
e2e_ping_outage() {
    local from=$1 to=${2:-$EPOCHREALTIME}
    e2e_ping_replies | awk -v from="$from" -v to="$to" -v iv="$E2E_PING_INTERVAL" '
        $1 < from { last = $1; next }
        $1 > to { exit }
        { if (last != "") { g = $1 - last; if (g > max) max = g } ; last = $1 }
        END { if (last != "" && to - last > max) max = to - last
              m = max - iv; if (m < 0) m = 0; printf "%.2f\n", m }'
}

# e2e_ping_reaches NODE SINCE [COUNT] : at least COUNT (default 5) replies from NODE after SINCE,
# and none from another node after the first of them.
e2e_ping_reaches() {
    local node=$1 since=$2 count=${3:-5}
    e2e_ping_replies | awk -v n="$node" -v s="$since" -v c="$count" '
        $1 < s { next }
        $2 == n { ok++; started = 1; next }
        started { bad++ }
        END { exit !(ok >= c && bad == 0) }'
}

# e2e_first_reply_from NODE SINCE -> epoch of the first reply from NODE after SINCE.
e2e_first_reply_from() {
    e2e_ping_replies | awk -v n="$1" -v s="$2" '$1 >= s && $2 == n { print $1; exit }'
}

# e2e_replies_from NODE FROM TO -> how many replies NODE sent between FROM and TO.
e2e_replies_from() {
    e2e_ping_replies | awk -v n="$1" -v f="$2" -v t="$3" '$1 >= f && $1 <= t && $2 == n { c++ } END { print c + 0 }'
}

# The node of the latest reply, or nothing.
e2e_ping_last_node() { e2e_ping_replies | awk 'END { if (NR) print $2 }'; }

# ---------------------------------------------------------------------------------------------
# fake-vpc: the VPC API and metadata on 198.18.0.1:80 in the router namespace.

E2E_FAKE_VPC_BIN=${E2E_FAKE_VPC_BIN:-}

# The data plane's hook, run by fake-vpc inside the router namespace whenever an IP lands; argv:
# IP HOLDER-ENI HOLDER-PRIMARY-IP. Routes the IP to the holder; records the landing. Prints its path.
e2e_write_hook() {
    local hook="$RUN_DIR/on-change.sh"
    cat >"$hook" <<HOOK
#!/bin/bash
set -euo pipefail
ip route replace "\$1/32" via "\$3"
echo "\$EPOCHREALTIME \$1 \$2 \$3" >>"$RUN_DIR/landed.log"
HOOK
    chmod 0755 "$hook"
    touch "$RUN_DIR/landed.log"
    echo "$hook"
}

# e2e_fake_vpc_start TOPOLOGY [FLAGS...] : starts fake-vpc with the on-change hook that routes
# the VIP to its holder's primary IP, waits until it listens and the VIP is routed.
e2e_fake_vpc_start() {
    local topology=$1
    shift
    local bin="${E2E_FAKE_VPC_BIN:-${CARGO_TARGET_DIR:-$E2E_REPO/target}/release/fake-vpc}"
    [ -x "$bin" ] || e2e_fail "no fake-vpc binary at $bin (cargo build --release -p fake-vpc)"
    local hook i
    hook=$(e2e_write_hook)
    # A HAVIP: the VPC learns its holder from the gratuitous ARPs on the nodes' links.
    local -a havip=()
    if [ "$E2E_KIND" = havip ]; then
        for ((i = 1; i <= E2E_NODES; i++)); do
            havip+=(--garp-listen "r-n$i")
        done
        havip+=(--havip-learn-ms "${E2E_HAVIP_LEARN_MS:-1000}")
    fi
    e2e_in vpc "$bin" --topology "$topology" --listen "$E2E_API_IP:$E2E_API_PORT" \
        --calls-log "$RUN_DIR/calls.jsonl" "${havip[@]}" "$@" --on-change "$hook" >"$RUN_DIR/fake-vpc.log" 2>&1 &
    E2E_BG_PIDS+=("$!")
    e2e_wait_until 10 "fake-vpc listening" grep -q "listening on" "$RUN_DIR/fake-vpc.log"
    if [ "$E2E_KIND" = havip ] && [ -z "$E2E_INITIAL_HOLDER" ]; then
        e2e_log "fake-vpc up on $E2E_API_IP:$E2E_API_PORT; HAVIP $E2E_HAVIP_ID bound to no node yet (learning delay ${E2E_HAVIP_LEARN_MS:-1000} ms)"
        return 0
    fi
    e2e_wait_until 10 "the VIP routed to its first holder" e2e_router_vip_node >/dev/null
    e2e_log "fake-vpc up on $E2E_API_IP:$E2E_API_PORT; VIP routed to node $(e2e_router_vip_node)"
}

# The node whose ENI holds the VIP according to the latest landing, or nothing.
e2e_cloud_holder() {
    local eni
    eni=$(awk -v v="$E2E_VIP" '$2 == v { e = $3 } END { print e }' "$RUN_DIR/landed.log")
    [ -n "$eni" ] && e2e_node_of_eni "$eni"
}

# e2e_landed_at NODE SINCE -> epoch of the first landing of the VIP on NODE's ENI after SINCE.
e2e_landed_at() {
    awk -v v="$E2E_VIP" -v e="${NODE_ENI[$1]}" -v s="$2" '$1 >= s && $2 == v && $3 == e { print $1; exit }' "$RUN_DIR/landed.log"
}

# ---------------------------------------------------------------------------------------------
# Installing tcvip and rendering the nodes' configuration from keepalived-examples/

E2E_BIN_DIR=""

# e2e_install [FROM] : scripts/install.sh into the run directory (root-owned all the way down, as
# keepalived's enable_script_security demands). FROM defaults to the release build.
# With $E2E_EXAMPLES_FROM set (a directory of keepalived-*.conf and tcvip.toml, e.g. a package's
# /usr/share/doc/tcvip/examples), the nodes' configuration is rendered from those files instead
# of keepalived-examples/; they name the binaries in $E2E_EXAMPLE_BIN_DIR (default /usr/local/bin).
e2e_install() {
    local from=${1:-${CARGO_TARGET_DIR:-$E2E_REPO/target}/release}
    E2E_BIN_DIR="$RUN_DIR/bin"
    "$E2E_REPO/scripts/install.sh" --from "$from" --bin-dir "$E2E_BIN_DIR" \
        --config-dir "$RUN_DIR/etc" 2>"$RUN_DIR/install.log" ||
        { cat "$RUN_DIR/install.log" >&2; e2e_fail "scripts/install.sh failed"; }
    if [ -n "${E2E_EXAMPLES_FROM:-}" ]; then
        cp -f "$E2E_EXAMPLES_FROM"/keepalived-*.conf "$E2E_EXAMPLES_FROM/tcvip.toml" "$RUN_DIR/etc/" ||
            e2e_fail "no examples in $E2E_EXAMPLES_FROM"
    fi
}

# e2e_render_node N MODE [CREDENTIALS] : keepalived.conf and tcvip.toml for node N.
#   MODE: nopreempt | preferred-master (node 1 is the preferred master); with E2E_MODE=fifo,
#   nopreempt renders keepalived-fifo.conf
#   CREDENTIALS: file (keys in tcvip.toml, 0600; default) | cvm-role (from the metadata service)
# Extra tcvip.toml settings may be given in $E2E_TOML_EXTRA as "section<TAB>key<TAB>value" lines.
e2e_render_node() {
    local n=$1 mode=$2 creds=${3:-file}
    local dir="$RUN_DIR/n$n" peers="" i priority=""
    mkdir -m 0700 "$dir"
    for ((i = 1; i <= E2E_NODES; i++)); do
        [ "$i" -ne "$n" ] && peers="$peers ${NODE_IP[i]}"
    done
    if [ "$mode" = preferred-master ]; then
        priority=100
        [ "$n" -eq 1 ] && priority=150
    fi
    # E2E_MODE=fifo: keepalived-fifo.conf (nopreempt with the notify FIFO and its reader) in
    # place of keepalived-nopreempt.conf; a scenario of another mode has no FIFO example.
    local fifo=""
    if [ "${E2E_MODE:-fork}" = fifo ]; then
        [ "$mode" = nopreempt ] || e2e_fail "E2E_MODE=fifo: no FIFO example for mode $mode"
        mode=fifo
        fifo="$dir/notify.fifo"
    fi
    awk -v bin_dir="$E2E_BIN_DIR" -v router_id="tcvip-$RUN-n$n" -v src_ip="${NODE_IP[n]}" \
        -v peers="${peers# }" -v vip="$E2E_VIP" -v priority="$priority" -v fifo="$fifo" \
        -v example_bin_dir="${E2E_EXAMPLE_BIN_DIR:-/usr/local/bin}" \
        -f "$E2E_DIR/render-keepalived.awk" "$RUN_DIR/etc/keepalived-$mode.conf" >"$dir/keepalived.conf" ||
        e2e_fail "rendering keepalived-$mode.conf for node $n"
    local check
    check=$(keepalived -t -f "$dir/keepalived.conf" 2>&1) ||
        e2e_fail "keepalived -t rejects node $n's keepalived.conf: $check"

    {
        printf 'vip\taddress\t"%s"\n' "$E2E_VIP"
        printf 'cloud\tendpoint\t"http://%s:%s"\n' "$E2E_API_IP" "$E2E_API_PORT"
        printf 'metadata\turl\t"http://%s:%s/latest/meta-data/"\n' "$E2E_API_IP" "$E2E_API_PORT"
        case "$creds" in
            file)
                printf 'credentials\tsource\t"file"\n'
                printf 'credentials\tsecret_id\t"%s"\n' "$E2E_SECRET_ID"
                printf 'credentials\tsecret_key\t"%s"\n' "$E2E_SECRET_KEY"
                ;;
            cvm-role) printf 'credentials\tsource\t"cvm-role"\n' ;;
            *) e2e_fail "unknown credentials mode $creds" ;;
        esac
        printf 'state\tdir\t"%s"\n' "$dir/state"
        printf 'drain\tfile\t"%s"\n' "$dir/drain"
        printf 'log\ttarget\t"file:%s"\n' "$dir/tcvip.log"
        printf 'log\tlevel\t"debug"\n'
        if [ "$E2E_KIND" = havip ]; then
            printf 'vip\tkind\t"havip"\n'
            printf 'vip\thavip_id\t"%s"\n' "$E2E_HAVIP_ID"
        fi
        [ -n "${E2E_TOML_EXTRA:-}" ] && printf '%s\n' "$E2E_TOML_EXTRA"
    } >"$dir/toml-settings.tsv"
    (umask 077 && awk -f "$E2E_DIR/render-toml.awk" "$dir/toml-settings.tsv" \
        "$RUN_DIR/etc/tcvip.toml" "$RUN_DIR/etc/tcvip.toml" >"$dir/tcvip.toml") ||
        e2e_fail "rendering tcvip.toml for node $n"
}

# ---------------------------------------------------------------------------------------------
# keepalived per node

e2e_stamp() {
    local line
    while IFS= read -r line; do
        printf '%s %s\n' "$EPOCHREALTIME" "$line"
    done
}

# e2e_keepalived_start N : keepalived in node N's namespace, with its own pid files, a clean
# environment (as under systemd) plus TCVIP_CONFIG, and its console log stamped line by line.
e2e_keepalived_start() {
    local n=$1 dir="$RUN_DIR/n$1"
    rm -f "$dir"/keepalived.pid "$dir"/vrrp.pid "$dir"/checkers.pid
    (ip netns exec "$(e2e_ns "n$n")" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        TCVIP_CONFIG="$dir/tcvip.toml" \
        keepalived -n -l -D -f "$dir/keepalived.conf" -p "$dir/keepalived.pid" \
        -r "$dir/vrrp.pid" -c "$dir/checkers.pid" 2>&1 | e2e_stamp >>"$dir/keepalived.log") 2>/dev/null &
    E2E_BG_PIDS+=("$!")
    e2e_wait_until 10 "keepalived on node $n started" e2e_keepalived_running "$n"
    e2e_mark "n${n}_started"
}

# e2e_doctor N [ARGS...] : `tcvip doctor` on node N as an operator would run it (the node's
# tcvip.toml and keepalived.conf, the installed binaries, keepalived from PATH); its report goes
# to stdout, its exit code is returned.
e2e_doctor() {
    local n=$1 dir="$RUN_DIR/n$1"
    shift
    ip netns exec "$(e2e_ns "n$n")" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        TCVIP_CONFIG="$dir/tcvip.toml" \
        "$E2E_BIN_DIR/tcvip" doctor --keepalived-conf "$dir/keepalived.conf" "$@"
}

# e2e_doctor_all : `tcvip doctor` passes (exit 0) on every node whose keepalived runs; a node's
# report is printed when it does not.
e2e_doctor_all() {
    local i code checked=""
    for ((i = 1; i <= E2E_NODES; i++)); do
        e2e_keepalived_running "$i" || continue
        code=0
        e2e_doctor "$i" >"$RUN_DIR/n$i/doctor.out" 2>&1 || code=$?
        if [ "$code" -ne 0 ]; then
            sed 's/^/    /' "$RUN_DIR/n$i/doctor.out" >&2
            e2e_fail "tcvip doctor on node $i exited $code"
        fi
        checked="$checked $i"
    done
    [ -n "$checked" ] || e2e_fail "no running node to run tcvip doctor on"
    e2e_log "tcvip doctor: OK on node(s)$checked"
}

# Whether the process in pid file $1 runs. A zombie counts as gone: a killed keepalived's
# orphans wait for init to reap them, sometimes for a second.
e2e_pid_alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# Both the main and the VRRP process of node N's keepalived are alive.
e2e_keepalived_running() {
    e2e_pid_alive "$RUN_DIR/n$1/keepalived.pid" && e2e_pid_alive "$RUN_DIR/n$1/vrrp.pid"
}

e2e_keepalived_gone() {
    ! e2e_pid_alive "$RUN_DIR/n$1/keepalived.pid" && ! e2e_pid_alive "$RUN_DIR/n$1/vrrp.pid"
}

# A real crash: SIGKILL the VRRP child first (no priority-0 advert, the VIP stays on the NIC),
# then the parent. (Killing the parent first lets the child shut down gracefully.)
e2e_keepalived_crash() {
    local dir="$RUN_DIR/n$1"
    kill -KILL "$(cat "$dir/vrrp.pid")"
    e2e_mark "n$1_crashed"
    kill -KILL "$(cat "$dir/keepalived.pid")"
    e2e_wait_until 5 "node $1's keepalived gone" e2e_keepalived_gone "$1"
    rm -f "$dir"/keepalived.pid "$dir"/vrrp.pid "$dir"/checkers.pid
}

# A graceful stop: SIGTERM to the main process (the VRRP child sends a priority-0 advert, runs
# the STOP notify and removes the VIP).
e2e_keepalived_stop() {
    local dir="$RUN_DIR/n$1"
    kill -TERM "$(cat "$dir/keepalived.pid")"
    e2e_mark "n$1_stopped"
    e2e_wait_until 10 "node $1's keepalived stopped" e2e_keepalived_gone "$1"
    rm -f "$dir"/keepalived.pid "$dir"/vrrp.pid "$dir"/checkers.pid
}

# Node N's VRRP state from its keepalived log: MASTER, BACKUP, FAULT, or DOWN when not running.
e2e_vrrp_state() {
    if ! e2e_keepalived_running "$1"; then
        echo DOWN
        return
    fi
    awk 'match($0, /Entering [A-Z]+ STATE/) { s = substr($0, RSTART + 9, RLENGTH - 15) } END { print (s == "" ? "INIT" : s) }' \
        "$RUN_DIR/n$1/keepalived.log"
}

e2e_is_state() { [ "$(e2e_vrrp_state "$1")" = "$2" ]; }

# e2e_state_at N STATE SINCE -> epoch at which node N's keepalived first entered STATE after SINCE.
e2e_state_at() {
    awk -v s="$3" -v st="Entering $2 STATE" '$1 >= s && index($0, st) { print $1; exit }' "$RUN_DIR/n$1/keepalived.log"
}

# Nodes whose keepalived is MASTER, space-separated.
e2e_masters() {
    local i out=""
    for ((i = 1; i <= E2E_NODES; i++)); do
        e2e_is_state "$i" MASTER && out="$out $i"
    done
    echo "${out# }"
}

# e2e_masters_are "LIST" : exactly these nodes are MASTER ("1 2").
e2e_masters_are() { [ "$(e2e_masters)" = "$1" ]; }

# e2e_roles_are MASTER BACKUP... : node MASTER is the only MASTER, the others BACKUP.
e2e_roles_are() {
    local m=$1 b
    shift
    e2e_is_state "$m" MASTER || return 1
    for b in "$@"; do
        e2e_is_state "$b" BACKUP || return 1
    done
}

# e2e_wait_master [TIMEOUT_S] [STABLE_S] : waits until one node has been the only MASTER for
# STABLE_S seconds (default 3: nodes started together may both become MASTER for a moment);
# prints it.
e2e_wait_master() {
    local timeout=${1:-30} stable=${2:-3} m since="" cur=""
    local deadline
    deadline=$(awk -v n="$EPOCHREALTIME" -v t="$timeout" 'BEGIN { printf "%.3f", n + t }')
    while true; do
        m=$(e2e_masters)
        if [ -n "$m" ] && [ "${m// /}" = "$m" ]; then
            if [ "$m" != "$cur" ]; then
                cur=$m
                since=$EPOCHREALTIME
            elif awk -v n="$EPOCHREALTIME" -v s="$since" -v d="$stable" 'BEGIN { exit !(n - s >= d) }'; then
                echo "$m"
                return 0
            fi
        else
            cur=""
        fi
        if awk -v n="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
            e2e_fail "timed out after ${timeout}s waiting for a single stable MASTER (now: ${m:-none})"
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------------------------
# fake-vpc's control endpoint (/_control/, same listener) and its calls log

# e2e_control METHOD PATH [JSON-BODY] : a control request from inside the router namespace.
e2e_control() {
    local method=$1 path=$2 body=${3:-}
    local -a args=(-sS --noproxy '*' --max-time 5 -X "$method" "http://$E2E_API_IP:$E2E_API_PORT/_control/$path")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
    e2e_in vpc curl "${args[@]}"
}

# The node whose ENI holds the VIP in fake-vpc's world (and whether it is mid-move), as
# "NODE STATE", e.g. "2 AVAILABLE"; nothing when unassigned (for a HAVIP: the ENI it is bound
# to, AVAILABLE; nothing when unbound).
e2e_cloud_view() {
    local eni state
    if [ "$E2E_KIND" = havip ]; then
        eni=$(e2e_havip_field eni) || return 1
        [ -n "$eni" ] && [ "$eni" != null ] || return 1
        echo "$(e2e_node_of_eni "$eni") AVAILABLE"
        return 0
    fi
    read -r eni state < <(e2e_control GET "holder/$E2E_VIP") || return 1
    [ "$eni" != none ] || return 1
    echo "$(e2e_node_of_eni "$eni") $state"
}

# e2e_havip_field FIELD -> the HAVIP's FIELD in fake-vpc's state (eni, address_ip, ...).
e2e_havip_field() {
    e2e_control GET state | jq -r --arg id "$E2E_HAVIP_ID" --arg f "$1" \
        '.havips[] | select(.id == $id) | .[$f] // empty'
}

# fake-vpc's gratuitous-ARP record since SINCE (unix seconds), as "UNIX_S IP MAC ENI VERDICT"
# lines.
e2e_garps() {
    e2e_control GET state | jq -r --argjson s "${1:-0}" \
        '.garps[]? | select(.time / 1000 >= $s) | "\(.time / 1000) \(.ip) \(.mac) \(.eni // "-") \(.verdict)"'
}

# e2e_havip_ignore_garps N : the VPC ignores the next N gratuitous ARPs for HAVIP addresses.
e2e_havip_ignore_garps() {
    e2e_control POST fault "{\"ignore_garps\": $1}" | grep -q '"ok"' ||
        e2e_fail "fake-vpc refused the ignore_garps fault"
    e2e_mark "ignore_garps_$1"
}

# e2e_garp_lines_at_least N COUNT : node N's keepalived logged at least COUNT gratuitous ARPs
# for the VIP.
e2e_garp_lines_at_least() {
    [ "$(grep -c "Sending gratuitous ARP on eth0 for $E2E_VIP" "$RUN_DIR/n$1/keepalived.log" 2>/dev/null)" -ge "$2" ]
}

# e2e_calls [ACTION] [SINCE] -> "UNIX_S ACTION OUTCOME SECRET_ID" per recorded API call.
e2e_calls() {
    local action=${1:-} since=${2:-0}
    [ -f "$RUN_DIR/calls.jsonl" ] || return 0
    awk -v a="$action" -v s="$since" '
        function field(name,    v) {
            if (!match($0, "\"" name "\":(\"[^\"]*\"|[0-9.]+|null)")) return ""
            v = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
            gsub(/"/, "", v)
            return v
        }
        {
            t = field("unix_ms") / 1000; act = field("action"); out = field("outcome"); sid = field("secret_id")
            if ((a == "" || act == a) && t >= s) printf "%.3f %s %s %s\n", t, act, out, (sid == "" || sid == "null" ? "-" : sid)
        }' "$RUN_DIR/calls.jsonl"
}

# e2e_moves SINCE -> the accepted MigratePrivateIpAddress calls since SINCE, in order, as
# "SRC-ENI>DST-ENI" words.
e2e_moves() {
    [ -f "$RUN_DIR/calls.jsonl" ] || return 0
    awk -v s="$1" '
        /"action":"MigratePrivateIpAddress"/ && /"outcome":"OK"/ {
            if (!match($0, /"unix_ms":[0-9]+/)) next
            if (substr($0, RSTART + 10, RLENGTH - 10) / 1000 < s) next
            src = dst = "?"
            if (match($0, /"SourceNetworkInterfaceId":"[^"]*"/)) src = substr($0, RSTART + 28, RLENGTH - 29)
            if (match($0, /"DestinationNetworkInterfaceId":"[^"]*"/)) dst = substr($0, RSTART + 33, RLENGTH - 34)
            printf "%s%s>%s", sep, src, dst; sep = " "
        }
        END { print "" }' "$RUN_DIR/calls.jsonl"
}

# e2e_count_calls ACTION [SINCE] -> how many calls of ACTION since SINCE.
e2e_count_calls() { e2e_calls "$1" "${2:-0}" | awk 'END { print NR }'; }

# e2e_first_call ACTION SINCE -> the epoch of the first call of ACTION after SINCE.
e2e_first_call() { e2e_calls "$1" "$2" | awk 'NR == 1 { print $1 }'; }

# ---------------------------------------------------------------------------------------------
# The whole rehearsal

# shellcheck disable=SC2034 # used by the scenarios
E2E_TOPOLOGY_2="$E2E_REPO/crates/fake-vpc/examples/two-nodes.toml"
# shellcheck disable=SC2034
E2E_TOPOLOGY_3="$E2E_REPO/crates/fake-vpc/examples/three-nodes.toml"
# shellcheck disable=SC2034
E2E_TOPOLOGY_HAVIP="$E2E_REPO/crates/fake-vpc/examples/two-nodes-havip.toml"

# e2e_up TOPOLOGY MODE [CREDENTIALS] [FAKE-VPC FLAGS...] : network, fake-vpc, tcvip installed,
# every node's config rendered, the client pinging, keepalived started on every node. Returns
# once one node is the stable MASTER and holds the VIP everywhere (cloud, NIC, route, pings);
# sets E2E_MASTER.
E2E_MASTER=""
e2e_up() {
    local topology=$1 mode=$2 creds=${3:-file}
    shift 3 || shift $#
    local i t
    e2e_load_topology "$topology"
    e2e_net_up
    e2e_fake_vpc_start "$topology" "$@"
    e2e_install "${E2E_BIN_FROM:-}"
    for ((i = 1; i <= E2E_NODES; i++)); do
        e2e_render_node "$i" "$mode" "$creds"
    done
    e2e_ping_start
    t=$EPOCHREALTIME
    e2e_mark start "$t"
    for ((i = 1; i <= E2E_NODES; i++)); do
        e2e_keepalived_start "$i"
    done
    E2E_MASTER=$(e2e_wait_master 40)
    for ((i = 1; i <= E2E_NODES; i++)); do
        e2e_scripts_accepted "$i"
    done
    e2e_log "node $E2E_MASTER is MASTER (+$(e2e_secs_between "$t" "$(e2e_state_at "$E2E_MASTER" MASTER "$t")")s after start)"
    e2e_expect_vip_on "$E2E_MASTER" "$t" 40
}

# keepalived (enable_script_security) ran node N's notify and track scripts: no security
# complaint in its log, and check-self has reported at least once.
e2e_scripts_accepted() {
    local log="$RUN_DIR/n$1/keepalived.log" bad
    bad=$(grep -E "SECURITY VIOLATION|[Uu]nsafe permissions|Disabling (track )?script|insecure|not executable" "$log" || true)
    [ -z "$bad" ] || e2e_fail "keepalived on node $1 refused tcvip's scripts: $bad"
    grep -q "VRRP_Script(tcvip_check) succeeded" "$log" ||
        e2e_fail "keepalived on node $1 never ran check-self successfully"
}

# Every fact that says where the VIP is, as one line: for the failure messages.
e2e_vip_facts() {
    local view
    view=$(e2e_cloud_view 2>/dev/null || echo "none")
    echo "cloud: node ${view:-?}; route: node $(e2e_router_vip_node || echo none); NICs: $(e2e_nics_with_vip); masters: $(e2e_masters); last ping reply: node $(e2e_ping_last_node)"
}

# The VIP is where node N should have it: the cloud says N's ENI holds it (settled), the router
# sends it to N, N's NIC has it and no other running node's NIC does.
e2e_vip_settled_on() {
    local n=$1 i view
    view=$(e2e_cloud_view 2>/dev/null) || return 1
    [ "$view" = "$n AVAILABLE" ] || return 1
    [ "$(e2e_router_vip_node)" = "$n" ] || return 1
    e2e_nic_has_vip "$n" || return 1
    for ((i = 1; i <= E2E_NODES; i++)); do
        if [ "$i" -ne "$n" ] && e2e_keepalived_running "$i" && e2e_nic_has_vip "$i"; then
            return 1
        fi
    done
}

# e2e_expect_vip_on N SINCE [TIMEOUT] : waits until the VIP is settled on node N, then until the
# client's pings are answered by N (five in a row); fails with every fact otherwise.
e2e_expect_vip_on() {
    local n=$1 since=$2 timeout=${3:-30}
    if ! e2e_poll "$timeout" e2e_vip_settled_on "$n"; then
        e2e_fail "VIP not settled on node $n within ${timeout}s ($(e2e_vip_facts))"
    fi
    local settled=$EPOCHREALTIME
    if ! e2e_poll 10 e2e_ping_reaches "$n" "$settled"; then
        e2e_fail "client's pings not answered by node $n ($(e2e_vip_facts))"
    fi
    e2e_log "VIP on node $n: cloud, route, NIC, client pings ($(e2e_vip_facts))"
}

# e2e_failover_timeline T0 NEW : prints (and returns in E2E_TIMELINE) the failover timeline
# measured from T0 (when the master was killed or stopped) to the VIP settling on node NEW.
E2E_TIMELINE=""
e2e_failover_timeline() {
    local t0=$1 n=$2 master migrate landed outage
    master=$(e2e_state_at "$n" MASTER "$t0")
    migrate=$(e2e_first_call MigratePrivateIpAddress "$t0")
    landed=$(e2e_landed_at "$n" "$t0")
    outage=$(e2e_ping_outage "$t0")
    if [ "$E2E_KIND" = havip ]; then
        # No move call for a HAVIP: the VPC follows the gratuitous ARP.
        E2E_TIMELINE="peer MASTER +$(e2e_rel "$t0" "$master")s, HAVIP bound +$(e2e_rel "$t0" "$landed")s, ping outage ${outage}s"
        e2e_log "timeline from T+0.00s: $E2E_TIMELINE"
        return 0
    fi
    E2E_TIMELINE="peer MASTER +$(e2e_rel "$t0" "$master")s, Migrate received +$(e2e_rel "$t0" "$migrate")s, landed +$(e2e_rel "$t0" "$landed")s, ping outage ${outage}s"
    e2e_log "timeline from T+0.00s: $E2E_TIMELINE"
}

# e2e_rel FROM TO -> seconds from FROM to TO, or "?" when TO is unknown.
e2e_rel() { if [ -n "$2" ]; then e2e_secs_between "$1" "$2"; else echo "?"; fi; }

# ---------------------------------------------------------------------------------------------
# Scenario bookkeeping: each scenario script calls e2e_scenario NAME first and e2e_pass SUMMARY
# last; a line "NAME|PASS|seconds|summary" (or FAIL) goes to $E2E_RESULTS when set.

E2E_SCENARIO=""
e2e_scenario() {
    E2E_SCENARIO=$1
    e2e_require
    e2e_init
    trap 'e2e_scenario_exit' EXIT
    e2e_log "scenario $E2E_SCENARIO: $2"
}

E2E_PASSED=""
e2e_pass() {
    E2E_PASSED=$1
    e2e_log "PASS $E2E_SCENARIO: $1"
}

e2e_scenario_exit() {
    local status=$?
    set +e
    local secs
    secs=$(e2e_elapsed)
    if [ "$status" -eq 0 ] && [ -n "$E2E_PASSED" ]; then
        [ -n "${E2E_RESULTS:-}" ] && echo "$E2E_SCENARIO|PASS|$secs|$E2E_PASSED" >>"$E2E_RESULTS"
    else
        [ "$status" -eq 0 ] && status=1
        E2E_FAILED=1
        [ -n "${E2E_RESULTS:-}" ] && echo "$E2E_SCENARIO|FAIL|$secs|see the log above (exit $status)" >>"$E2E_RESULTS"
    fi
    e2e_teardown "$status"
}

# ---------------------------------------------------------------------------------------------
# Split brain and its heal: VRRP cut one way, heal outages, moves per node

# e2e_vrrp_cut_oneway FROM TO : drops VRRP from node FROM to node TO in the router (TO no longer
# hears FROM; FROM still hears TO). e2e_vrrp_heal_oneway FROM TO lets it through again.
e2e_vrrp_cut_oneway() {
    ip -n "$(e2e_ns vpc)" rule add priority 101 from "${NODE_IP[$1]}" to "${NODE_IP[$2]}" ipproto vrrp blackhole
    e2e_mark "vrrp_cut_$1_$2"
}
e2e_vrrp_heal_oneway() {
    ip -n "$(e2e_ns vpc)" rule del priority 101 from "${NODE_IP[$1]}" to "${NODE_IP[$2]}" ipproto vrrp blackhole
    e2e_mark "vrrp_healed_$1_$2"
}

# e2e_vrrp_heal_all : every VRRP cut removed, both-way and one-way.
e2e_vrrp_heal_all() {
    local vpc
    vpc=$(e2e_ns vpc)
    while ip -n "$vpc" rule del priority 101 2>/dev/null; do :; done
    while ip -n "$vpc" rule del priority 100 2>/dev/null; do :; done
    e2e_mark vrrp_healed
}

# e2e_split_vip_to N : during a split (node N MASTER), makes the cloud put the VIP on node N as
# its own reconcile would (vip-migrate on node N), and waits until it is settled there.
e2e_split_vip_to() {
    local n=$1 dir="$RUN_DIR/n$1"
    if [ "$(e2e_cloud_holder)" != "$n" ]; then
        e2e_in "n$n" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TCVIP_CONFIG="$dir/tcvip.toml" \
            "$E2E_BIN_DIR/vip-migrate" --reconcile >>"$dir/split-migrate.out" 2>&1 ||
            e2e_fail "vip-migrate on node $n (MASTER during the split) failed: $(tail -1 "$dir/split-migrate.out")"
    fi
    e2e_wait_until 20 "the VIP settled on node $n during the split" e2e_vip_cloud_on "$n"
}

# The cloud has the VIP, settled, on node N (whatever the NICs say).
e2e_vip_cloud_on() { [ "$(e2e_cloud_view 2>/dev/null)" = "$1 AVAILABLE" ]; }

# e2e_heal_bound -> the heal outage bound in seconds: the landing lag + 3 (lag from
# $E2E_LAG_MS, fake-vpc's default 2000).
e2e_heal_bound() { awk -v l="${E2E_LAG_MS:-2000}" 'BEGIN { printf "%.2f\n", l / 1000 + 3 }'; }

# e2e_assert_outage_within FROM WHAT : the client's longest ping outage since FROM is at most
# e2e_heal_bound; prints it.
e2e_assert_outage_within() {
    local from=$1 what=$2 outage bound
    outage=$(e2e_ping_outage "$from")
    bound=$(e2e_heal_bound)
    awk -v o="$outage" -v b="$bound" 'BEGIN { exit !(o <= b) }' ||
        e2e_fail "$what: client ping outage ${outage}s, above the bound of ${bound}s (landing lag + 3 s)"
    echo "$outage"
}

# e2e_moves_by_node SINCE -> per node, the accepted Migrate calls since SINCE that moved the VIP
# to it, as "N:COUNT" words (every node listed).
e2e_moves_by_node() {
    local moves i out="" c
    moves=$(e2e_moves "$1")
    for ((i = 1; i <= E2E_NODES; i++)); do
        c=$(tr ' ' '\n' <<<"$moves" | awk -F'>' -v e="${NODE_ENI[i]}" '$2 == e { c++ } END { print c + 0 }')
        out="$out $i:$c"
    done
    echo "${out# }"
}

# e2e_min_move_gap SINCE -> the shortest time in seconds between two accepted Migrate calls since
# SINCE, or "none" with fewer than two.
e2e_min_move_gap() {
    e2e_calls MigratePrivateIpAddress "$1" | awk '$3 == "OK" { if (n++) { g = $1 - p; if (min == "" || g < min) min = g } p = $1 }
        END { if (min == "") print "none"; else printf "%.2f\n", min }'
}
