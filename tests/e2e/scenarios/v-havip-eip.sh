#!/usr/bin/env bash
# (v) An EIP on a HAVIP follows the master. With `[[vip]] eip`, the first master's vip-migrate
# binds the EIP to the HAVIP once the HAVIP is bound to it (HaVipAssociateAddressIp, verified
# with DescribeHaVips), and `tcvip eip associate` then finds it there and calls nothing. The
# router's NAT sends the EIP to the HAVIP's address, as the VPC's does. When the master node dies
# the client's pings at the EIP are answered by the new master, and the EIP stays on the HAVIP
# with no further EIP call: on a HAVIP the EIP moves with the binding.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

E2E_EIP_ID=eip-demo0001
E2E_EIP_IP=198.19.1.10
export E2E_TOML_EXTRA
E2E_TOML_EXTRA=$(printf 'vip\teip\t"%s"' "$E2E_EIP_ID")

e2e_scenario v-havip-eip "HAVIP: its EIP follows the master"
e2e_up "$E2E_TOPOLOGY_HAVIP" nopreempt
m=$E2E_MASTER
o=$((3 - m))
dir="$RUN_DIR/n$m"

out=$(e2e_in "n$m" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TCVIP_CONFIG="$dir/tcvip.toml" \
    "$E2E_BIN_DIR/tcvip" eip associate 2>&1) || e2e_fail "tcvip eip associate on node $m failed: $out"
e2e_log "tcvip eip associate: $out"
grep -q "already points at it; nothing to do" <<<"$out" ||
    e2e_fail "tcvip eip associate did not find the EIP that vip-migrate bound to the HAVIP: $out"
[ "$(e2e_havip_field address_ip)" = "$E2E_EIP_IP" ] ||
    e2e_fail "DescribeHaVips does not show $E2E_EIP_IP on $E2E_HAVIP_ID"
[ "$(e2e_count_calls HaVipAssociateAddressIp 0)" -eq 1 ] ||
    e2e_fail "expected one HaVipAssociateAddressIp call, found $(e2e_count_calls HaVipAssociateAddressIp 0)"
[ "$(e2e_count_calls AssociateAddress 0)" -eq 0 ] || e2e_fail "AssociateAddress was called for a HAVIP's EIP"

# The VPC's NAT for the EIP: to the HAVIP's address, wherever the HAVIP is bound.
e2e_in vpc nft -f - <<NFT || e2e_fail "nft: the router's EIP NAT"
table ip tcvip_eip {
    chain prerouting { type nat hook prerouting priority dstnat; policy accept; ip daddr $E2E_EIP_IP dnat to $E2E_VIP; }
    chain postrouting { type nat hook postrouting priority srcnat; policy accept; }
}
NFT
e2e_ping_start "$E2E_EIP_IP" eip-ping.log
E2E_PING_LOG=eip-ping.log
t=$EPOCHREALTIME
e2e_wait_until 10 "the client's pings at the EIP answered by node $m" e2e_ping_reaches "$m" "$t"

t0=$EPOCHREALTIME
e2e_keepalived_crash "$m"
e2e_node_unplug "$m"
e2e_log "node $m down"
E2E_PING_LOG=ping.log
e2e_expect_vip_on "$o" "$t0" 30
E2E_PING_LOG=eip-ping.log
settled=$EPOCHREALTIME
e2e_wait_until 10 "the client's pings at the EIP answered by node $o" e2e_ping_reaches "$o" "$settled"
outage=$(e2e_ping_outage "$t0")
[ "$(e2e_havip_field address_ip)" = "$E2E_EIP_IP" ] || e2e_fail "the EIP left the HAVIP during the failover"
eip_calls=$(($(e2e_count_calls HaVipAssociateAddressIp "$t0") + $(e2e_count_calls HaVipDisassociateAddressIp "$t0") + $(e2e_count_calls AssociateAddress "$t0") + $(e2e_count_calls DisassociateAddress "$t0")))
[ "$eip_calls" -eq 0 ] || e2e_fail "$eip_calls EIP call(s) during the failover: the EIP on a HAVIP needs none"
e2e_pass "EIP $E2E_EIP_IP answered by node $o after node $m died, EIP ping outage ${outage}s, no EIP call"
