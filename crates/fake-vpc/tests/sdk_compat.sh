#!/usr/bin/env bash
# Checks fake-vpc against the official Tencent Cloud Python SDK (from PyPI).
#
#   crates/fake-vpc/tests/sdk_compat.sh
#
# Builds the fake-vpc binary (honouring CARGO_TARGET_DIR), installs
# tencentcloud-sdk-python-common and tencentcloud-sdk-python-vpc into a virtualenv (reused from
# $FAKE_VPC_SDK_VENV when set, else a temporary one), starts the simulator on 127.0.0.1 with the
# two-node example and runs tests/python_sdk.py against it. Exits non-zero on any failure,
# including a missing python3 or an unreachable package index: it never skips silently.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crate="$(dirname "$here")"
root="$(cd "$crate/../.." && pwd)"

command -v python3 >/dev/null || { echo "sdk_compat: python3 is required" >&2; exit 1; }

work="$(mktemp -d)"
fake_pid=""
cleanup() {
    if [[ -n "$fake_pid" ]]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

venv="${FAKE_VPC_SDK_VENV:-$work/venv}"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    tencentcloud-sdk-python-common tencentcloud-sdk-python-vpc

(cd "$root" && cargo build --quiet -p fake-vpc --bin fake-vpc)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/fake-vpc"

# Loopback only: never through a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY="127.0.0.1" no_proxy="127.0.0.1"

: >"$work/stdout"
"$bin" --topology "$crate/examples/two-nodes.toml" --listen 127.0.0.1:0 --lag-ms 200 \
    >"$work/stdout" 2>"$work/stderr" &
fake_pid=$!
addr=""
for _ in $(seq 1 100); do
    if read -r line <"$work/stdout" 2>/dev/null && [[ "$line" == "listening on "* ]]; then
        addr="${line#listening on }"
        break
    fi
    kill -0 "$fake_pid" 2>/dev/null || { cat "$work/stderr" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$addr" ]] || { echo "sdk_compat: fake-vpc did not start" >&2; exit 1; }

"$venv/bin/python" "$here/python_sdk.py" "$addr"
