#!/usr/bin/env bash
# One seed of the chaos suite (tests/e2e/chaos.sh runs these): the rehearsal (2 or 3 nodes,
# keepalived-nopreempt.conf, key file or CVM role, all chosen by the seed) through the seed's
# fault schedule for DURATION seconds, every fault undone, then the checker over the timeline.
#
# Usage: sudo tests/e2e/chaos/seed.sh SEED DURATION [NODES]
# Prints the schedule, the faults as applied, and a table of the checks; appends one line
# "seed|PASS or FAIL|nodes|credentials|faults|converged|moves|checks failed" to $CHAOS_RESULTS
# when set. Exit 0 when every check passed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../chaos-lib.sh
source "$here/../chaos-lib.sh"

seed=${1:?usage: seed.sh SEED DURATION [NODES]}
duration=${2:?usage: seed.sh SEED DURATION [NODES]}
nodes=${3:-0}
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "chaos: the seed must be a non-negative integer, got '$seed'" >&2; exit 2; }
if ! [[ "$duration" =~ ^[0-9]+$ ]] || [ "$duration" -lt 15 ]; then
    echo "chaos: the duration must be at least 15 s, got '$duration'" >&2
    exit 2
fi

schedule=$(chaos_schedule "$seed" "$duration" "$nodes")
e2e_scenario "chaos-$seed" "chaos seed $seed, ${duration}s of faults"
printf '%s\n' "$schedule" >"$RUN_DIR/schedule.log"
echo "== chaos seed $seed: schedule (reproduce: tests/e2e/chaos.sh --seed $seed --duration $duration${3:+ --nodes $3})" >&2
sed 's/^/    /' "$RUN_DIR/schedule.log" >&2

nodes=$(chaos_schedule_get "$RUN_DIR/schedule.log" nodes)
creds=$(chaos_schedule_get "$RUN_DIR/schedule.log" credentials)
max_lag_ms=$(chaos_schedule_get "$RUN_DIR/schedule.log" max_lag_ms)
faults=$(awk '$1 != "#"' "$RUN_DIR/schedule.log" | wc -l)
topology=$E2E_TOPOLOGY_2
[ "$nodes" = 3 ] && topology=$E2E_TOPOLOGY_3
: >"$RUN_DIR/chaos-events.log"
: >"$RUN_DIR/chaos-procs.log"
: >"$RUN_DIR/chaos-files.log"
: >"$RUN_DIR/chaos-settle.log"

e2e_up "$topology" nopreempt "$creds" --lag-ms "$CHAOS_BASE_LAG_MS"
chaos_sampler_start
t0=$EPOCHREALTIME
chaos_event faults_start
chaos_run_schedule "$RUN_DIR/schedule.log" "$t0"
# The schedule's window ends at t0 + DURATION.
sleep "$(awk -v t0="$t0" -v d="$duration" -v n="$EPOCHREALTIME" 'BEGIN { w = t0 + d - n; printf "%.3f", (w > 0 ? w : 0) }')"
e2e_log "chaos: faults over; undoing what is left"
chaos_quiesce
if ! e2e_poll 30 chaos_nodes_ready; then
    e2e_log "chaos: not every node MASTER or BACKUP 30 s after the faults: $(for ((i = 1; i <= E2E_NODES; i++)); do printf 'node %s %s; ' "$i" "$(e2e_vrrp_state "$i")"; done)"
fi
quiet=$EPOCHREALTIME
chaos_event quiet
wait_ready=$(e2e_secs_between "$t0" "$quiet")
bound=$(awk -v d="$CHAOS_DETECTION_S" -v l="$max_lag_ms" 'BEGIN { printf "%.2f", d + l / 1000 + 3 }')
e2e_log "chaos: the checker's clock starts ($(e2e_vip_facts)); bound ${bound}s = detection ${CHAOS_DETECTION_S}s + landing lag $((max_lag_ms / 1000)).$(printf '%03d' $((max_lag_ms % 1000)))s + 3s"
settled=$(chaos_observe "$bound" 8)
chaos_sampler_stop

# The checker.
declare -A result
result[converged]=$(chaos_check_converged "$quiet" "$bound" "$settled")
result[moves]=$(chaos_check_moves)
result[deadlines]=$(chaos_check_deadlines)
result[panics]=$(chaos_check_panics)
result[state-files]=$(chaos_check_state_files)
result[api-rate]=$(chaos_check_rates)
failed=()
{
    echo
    echo "chaos seed $seed: $nodes nodes, credentials $creds, $faults faults in ${duration}s, checker clock started at +${wait_ready}s"
    printf '  %-12s %-5s %s\n' check result detail
    for c in converged moves deadlines panics state-files api-rate; do
        r=${result[$c]}
        printf '  %-12s %-5s %s\n' "$c" "${r%% *}" "${r#* }"
        [ "${r%% *}" = PASS ] || failed+=("$c")
    done
} >&2
conv=$(sed -n 's/^[A-Z]* node [0-9]* \(+[0-9.]*s\).*/\1/p' <<<"${result[converged]}")
moves=$(sed -n 's/^[A-Z]* \([0-9]*\) moves.*/\1/p; s/^FAIL [0-9]* of \([0-9]*\) moves.*/\1/p' <<<"${result[moves]}")
line="$seed|$([ ${#failed[@]} -eq 0 ] && echo PASS || echo FAIL)|$nodes|$creds|$faults|${conv:-never}/${bound}s|${moves:-?}|${failed[*]:-}"
[ -n "${CHAOS_RESULTS:-}" ] && echo "$line" >>"$CHAOS_RESULTS"
if [ ${#failed[@]} -ne 0 ]; then
    e2e_fail "chaos seed $seed: ${failed[*]} (reproduce: tests/e2e/chaos.sh --seed $seed --duration $duration${3:+ --nodes $3})"
fi
e2e_pass "seed $seed: converged ${conv}, ${moves} moves, every check passed"
