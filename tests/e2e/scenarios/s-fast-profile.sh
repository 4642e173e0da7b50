#!/usr/bin/env bash
# (s) The fast profile (keepalived-fast.conf: VRRPv3, 0.1 s adverts, down_timer_adverts 6): the
# master node dies, the client's outage is at most 1.0 s + the landing lag, a few runs in a row
# (E2E_FAST_RUNS, default 3). The 20-run measurement: tests/e2e/fast-profile.sh --runs 20.
set -euo pipefail
E2E_FAST_NAME=s-fast-profile exec "$(dirname "${BASH_SOURCE[0]}")/../fast-profile.sh" --runs "${E2E_FAST_RUNS:-3}"
