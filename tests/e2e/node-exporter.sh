#!/usr/bin/env bash
# The metrics file scraped by a real node_exporter (Debian's prometheus-node-exporter, run as a
# plain process on a loopback port with only the textfile collector, never as a service):
# tcvip binaries run against fake-vpc in fork mode and as the FIFO reader, the textfile they
# write is served by node_exporter with no scrape error, and the reader's GET /metrics answers.
#
# Usage: tests/e2e/node-exporter.sh     (installs prometheus-node-exporter through
#        scripts/e2e-deps.sh when root and it is missing)
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=/usr/bin/prometheus-node-exporter
if [ ! -x "$binary" ] && [ "$(id -u)" -eq 0 ]; then
    scripts/e2e-deps.sh
fi
if [ ! -x "$binary" ]; then
    echo "node-exporter: FAILED: $binary is missing (apt-get install prometheus-node-exporter, or run scripts/e2e-deps.sh as root)" >&2
    exit 1
fi
"$binary" --version 2>&1 | head -1 >&2
# With TCVIP_NODE_EXPORTER set, the test fails instead of skipping the scrape.
TCVIP_NODE_EXPORTER=$binary timeout 600 cargo test -p tcvip --test cli --locked metrics:: -- --test-threads=2
