#!/usr/bin/env bash
# The whole test suite, in order: formatting, lints, unit and integration tests (cargo), the
# Python SDK compatibility check of fake-vpc, and — as root — the end-to-end failover rehearsal
# (which also validates the keepalived examples with `keepalived -t`), in fork mode, then its
# main scenarios again in FIFO mode. Before the rehearsal, the
# release artefacts are built (scripts/dist.sh) and checked (tests/dist/check-artefacts.sh:
# GLIBC_2.17, contents, modes, conffile, lintian, rpmlint); the rehearsal's scenario m-from-deb runs the
# .deb's binaries.
#
# Prints one summary line ("summary: N passed, M failed") and exits non-zero on any failure.
# The end-to-end stage needs root; without root it fails loudly rather than passing silently,
# unless it is left out on purpose with TCVIP_E2E=0 (as root the examples are then still
# validated). TCVIP_SDK=0 leaves out the SDK check (it needs PyPI); TCVIP_DIST=0 leaves out the
# artefacts (then the rehearsal's scenario m-from-deb fails unless dist/ already holds a .deb).
# The chaos suite (tests/e2e/chaos.sh: a few seeded fault schedules over the rehearsal, a few
# minutes in all) runs after the rehearsal, as root; TCVIP_CHAOS=0 leaves it out (it defaults to
# TCVIP_E2E); TCVIP_CHAOS_SEEDS (default 1,3,6: two nodes and three, the credentials file and the CVM
# role; the seeds that found the races named in the README's chaos section) and
# TCVIP_CHAOS_DURATION (default 45 s) choose the seeds. Its checker's self-test needs neither
# root nor time and always runs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
failed_stages=()
ran_stages=()

stage() {
    local name=$1
    shift
    echo
    echo "== $name: $*"
    ran_stages+=("$name")
    if "$@" 2>&1 | tee "$log_dir/$name.log"; then
        return 0
    fi
    failed_stages+=("$name")
    return 1
}

root=false
[ "$(id -u)" -eq 0 ] && root=true
e2e=${TCVIP_E2E:-1}

if $root; then
    # keepalived, iproute2, ping, curl, strace: for the namespace tests and the rehearsal (the
    # tests that need root or a tool fail, naming it, when they cannot run).
    stage deps scripts/e2e-deps.sh
fi

stage fmt cargo fmt --all --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
stage test cargo test --workspace --locked
if [ "${TCVIP_DIST:-1}" != 0 ]; then
    # tcvip-docs's own tests ran above; these need the release build (a few minutes from cold).
    stage dist scripts/dist.sh
    stage packages tests/dist/check-artefacts.sh
fi
if [ "${TCVIP_SDK:-1}" != 0 ]; then
    stage sdk crates/fake-vpc/tests/sdk_compat.sh
fi
if [ "$e2e" != 0 ]; then
    if $root; then
        stage e2e tests/e2e/run.sh
        # FIFO mode (keepalived-fifo.conf, notify-action --fifo): election, crash, node down,
        # API faults, split brain, three nodes, CVM role, HAVIP crash and lost gratuitous ARP
        # (about 4 min more).
        stage e2e-fifo tests/e2e/run.sh --no-build --mode fifo a-election b-crash b-node-down \
            e-api-faults g-split-brain h-three-nodes i-cvm-role t-havip-crash u-havip-lost-garp
    else
        echo
        echo "== e2e: FAILED: the end-to-end rehearsal needs root (sudo scripts/test.sh), or set TCVIP_E2E=0 to leave it out"
        failed_stages+=("e2e")
    fi
elif $root; then
    # keepalived -t on both shipped examples (script security needs root-owned paths).
    stage examples tests/e2e/validate-examples.sh
fi
stage chaos-checker tests/e2e/chaos/checker-selftest.sh
# The metrics textfile scraped by Debian's prometheus-node-exporter (a plain process on loopback;
# installed by the deps stage as root, and required whenever the e2e stages run).
if [ "$e2e" != 0 ] || [ -x /usr/bin/prometheus-node-exporter ]; then
    stage node-exporter tests/e2e/node-exporter.sh
fi
if [ "${TCVIP_CHAOS:-$e2e}" != 0 ]; then
    if $root; then
        stage chaos tests/e2e/chaos.sh --seeds "${TCVIP_CHAOS_SEEDS:-1,3,6}" --duration "${TCVIP_CHAOS_DURATION:-45}"
    else
        echo
        echo "== chaos: FAILED: the chaos suite needs root (sudo scripts/test.sh), or set TCVIP_CHAOS=0 to leave it out"
        failed_stages+=("chaos")
    fi
fi

# Tests counted: cargo's "test result:" lines, and the rehearsal's own summary line.
passed=0
failed=0
if [ -f "$log_dir/test.log" ]; then
    while read -r p f; do
        passed=$((passed + p))
        failed=$((failed + f))
    done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log_dir/test.log")
fi
for e2e_log in "$log_dir/e2e.log" "$log_dir/e2e-fifo.log"; do
    [ -f "$e2e_log" ] || continue
    read -r p f < <(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$e2e_log" | tail -n 1) || true
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
done
if [ -f "$log_dir/chaos.log" ]; then
    read -r p f < <(sed -n 's/^chaos: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$log_dir/chaos.log" | tail -n 1) || true
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
fi
if [ -f "$log_dir/chaos-checker.log" ]; then
    read -r p f < <(sed -n 's/^chaos checker self-test: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log_dir/chaos-checker.log" | tail -n 1) || true
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
fi
if [ -f "$log_dir/packages.log" ]; then
    read -r p f < <(sed -n 's/^dist: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log_dir/packages.log" | tail -n 1) || true
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
fi
# Stages with no count of their own (fmt, clippy, sdk, ...) count as one test each; so does a
# failed test or e2e stage that ended before printing its counts.
counted_failures=$failed
for s in "${ran_stages[@]}"; do
    stage_failed=false
    [[ " ${failed_stages[*]} " == *" $s "* ]] && stage_failed=true
    case "$s" in
        deps) ;;
        test | e2e | e2e-fifo | packages | chaos | chaos-checker)
            if $stage_failed && [ "$counted_failures" -eq 0 ]; then failed=$((failed + 1)); fi ;;
        *)
            if $stage_failed; then failed=$((failed + 1)); else passed=$((passed + 1)); fi ;;
    esac
done

echo
if [ ${#failed_stages[@]} -eq 0 ]; then
    echo "summary: $passed passed, $failed failed"
    exit 0
fi
[ "$failed" -eq 0 ] && failed=${#failed_stages[@]}
echo "summary: $passed passed, $failed failed (failed stages: ${failed_stages[*]})"
exit 1
