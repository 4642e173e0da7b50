#!/usr/bin/env bash
# Validates every shipped keepalived-examples/keepalived-*.conf with Debian's `keepalived -t`
# (config test: exit 0 when clean, non-zero with the offending lines on stderr).
#
# keepalived -t also checks the scripts (existence, enable_script_security), so each example is
# checked exactly as shipped except for the binaries' directory, which points at executables in a
# root-owned temporary directory. A deliberately broken copy must be rejected, so that this test
# can fail. Needs root and keepalived (installed by scripts/e2e-deps.sh); fails loudly without.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
    # keepalived's script security wants root-owned script paths, which only root can make.
    echo "validate-examples: needs root (sudo $0)" >&2
    exit 1
fi
if ! command -v keepalived >/dev/null 2>&1 && [ ! -x /usr/sbin/keepalived ]; then
    "$repo/scripts/e2e-deps.sh" || {
        echo "validate-examples: keepalived is missing and could not be installed" >&2
        exit 1
    }
fi
PATH="$PATH:/usr/sbin:/sbin"

work=$(mktemp -d /run/tcvip-validate.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
for b in notify-action vip-migrate vip-query check-self; do
    printf '#!/bin/sh\nexit 0\n' >"$work/$b"
    chmod 0755 "$work/$b"
done

failed=0
checked=0
for example in "$repo"/keepalived-examples/keepalived-*.conf; do
    name=$(basename "$example")
    rendered="$work/$name"
    if ! awk -v bin_dir="$work" -v router_id=tcvip-node1 -v src_ip=10.0.1.11 -v peers=10.0.1.12 \
        -v vip=10.0.1.100 -v priority="" -f "$repo/tests/e2e/render-keepalived.awk" \
        "$example" >"$rendered"; then
        echo "FAIL $name: not in the shape the rehearsal renders" >&2
        failed=$((failed + 1))
        continue
    fi
    checked=$((checked + 1))
    # The 1.3 example must not use what keepalived 1.3.5 lacks (the other examples use these).
    if [ "$name" = keepalived-1.3.conf ] &&
        grep -nE '^[[:space:]]*(notify|notify_master_rx_lower_pri|check_unicast_src)[[:space:]]' "$example" >&2; then
        echo "FAIL $name: uses a keyword keepalived 1.3.5 does not have (above)" >&2
        failed=$((failed + 1))
    fi
    if out=$(keepalived -t -f "$rendered" 2>&1) && [ -z "$out" ]; then
        echo "ok   $name: keepalived -t accepts it"
    else
        echo "FAIL $name: keepalived -t: ${out:-non-zero exit}" >&2
        failed=$((failed + 1))
    fi
    # The fast profile must really be one: VRRPv3 with a sub-second advert interval and a loss
    # tolerance (down_timer_adverts), and keepalived must refuse its interval under VRRPv2.
    if [ "$name" = keepalived-fast.conf ]; then
        if ! grep -qE '^[[:space:]]*vrrp_version[[:space:]]+3([[:space:]]|$)' "$example" ||
            ! grep -qE '^[[:space:]]*advert_int[[:space:]]+0\.[0-9]+([[:space:]]|$)' "$example" ||
            ! grep -qE '^[[:space:]]*down_timer_adverts[[:space:]]+[0-9]+([[:space:]]|$)' "$example"; then
            echo "FAIL $name: not VRRPv3 with advert_int < 1 s and down_timer_adverts" >&2
            failed=$((failed + 1))
        fi
        grep -vE '^[[:space:]]*vrrp_version[[:space:]]' "$rendered" >"$work/v2.conf"
        if keepalived -t -f "$work/v2.conf" >/dev/null 2>&1; then
            echo "FAIL $name: keepalived -t accepts its advert_int under VRRPv2; the check proves nothing" >&2
            failed=$((failed + 1))
        fi
    fi
    # The negative control: the same file with an unknown keyword must be rejected.
    sed 's/^\([[:space:]]*\)advert_int /\1advert_intervalx /' "$rendered" >"$work/broken.conf"
    if keepalived -t -f "$work/broken.conf" >/dev/null 2>&1; then
        echo "FAIL $name: keepalived -t accepted a broken copy; the check proves nothing" >&2
        failed=$((failed + 1))
    fi
done

if [ "$checked" -lt 4 ]; then
    echo "FAIL: expected the four examples (nopreempt, preferred-master, 1.3, fast), found $checked" >&2
    exit 1
fi
[ "$failed" -eq 0 ]
