#!/usr/bin/env bash
# bridge_interface: taps go on the operator's existing bridge; no cvd-ebr/cvd-wbr, no dnsmasq;
# with ipv4_bridge=0 the bridge nft table routes IPv4 from the taps (broute); teardown leaves
# the operator's bridge alone. Also a foreign link squatting on a tap name is a reported
# conflict (NetworkState=degraded), never touched.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

ip link add br-ext type bridge
ip addr add 10.213.77.1/24 dev br-ext
ip link set br-ext up

cf_write_config "num_cvd_accounts=3" "bridge_interface=br-ext" "ipv4_bridge=0"
cf_start_daemon
assert_eq "$(cf_network_state)" up "state"
assert_eq "$(ip -o link show master br-ext | wc -l)" 6 "etap+wtap ports on br-ext"
! ip link show cvd-ebr >/dev/null 2>&1 || cf_fail "cvd-ebr created with bridge_interface"
assert_eq "$(our_dnsmasq_pids | wc -l)" 0 "dnsmasq with bridge_interface"
nft list table bridge cuttlefish_host_resources | grep -Eq 'ether type ip (meta broute set 1 accept|drop)' || cf_fail "no rules keeping IPv4 off the bridge"
nft list table bridge cuttlefish_host_resources | grep -q 'cvd-etap-03' || cf_fail "broute rules lack slot 3"
assert_eq "$(status_json | jq -r '.bridges | length')" 1 "bridges listed"
assert_eq "$(status_json | jq -r '.bridges[0].managed')" false "br-ext managed"
status_json | jq -e '.bridge_filter == "broute" or .bridge_filter == "drop"' >/dev/null || cf_fail "bridge_filter not reported"

cf_stop_daemon
ip link show br-ext >/dev/null || cf_fail "br-ext was removed"
ip -o -4 addr show dev br-ext | grep -q 10.213.77.1/24 || cf_fail "br-ext lost its address"
assert_eq "$(count_our_links)" 0 "our links after stop"
assert_eq "$(nft list tables | grep -c cuttlefish || true)" 0 "tables after stop"

# A foreign link holding one of our names.
ip link add cvd-etap-02 type veth peer name squat-peer
cf_write_config "num_cvd_accounts=3"
cf_start_daemon
assert_eq "$(cf_network_state)" degraded "state with a squatter"
status_json | jq -e '.conflicts[0] | startswith("cvd-etap-02 exists but was not created by this service")' >/dev/null ||
        cf_fail "conflict not reported: $(status_json | jq -c .conflicts)"
ip -d link show cvd-etap-02 | grep -q veth || cf_fail "the squatter was touched"
ip -o link show cvd-etap-02 | grep -vq master || cf_fail "the squatter was enslaved"
grep -q "Conflict: cvd-etap-02" "$CF_TMP/daemon.log" || cf_fail "conflict not logged"
cf_stop_daemon
ip link show cvd-etap-02 >/dev/null || cf_fail "teardown removed a foreign link"
echo "PASS"
