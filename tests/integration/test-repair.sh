#!/usr/bin/env bash
# Drift repair: a deleted tap, a bridge port removed, an address dropped and the nft table
# deleted are each repaired by the daemon, and the repair is logged.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

cf_write_config "num_cvd_accounts=3"
cf_start_daemon
BEFORE=$(count_our_links)
assert_eq "$BEFORE" 14 "links for 3 slots"

ip link delete cvd-wtap-02
wtap_back() { [ "$(ip -o link show cvd-wtap-02 2>/dev/null | grep -c 'master cvd-wbr')" = 1 ]; }
cf_wait_for 5 wtap_back || cf_fail "cvd-wtap-02 was not recreated on cvd-wbr"
grep -q "Repaired drift: created cvd-wtap-02" "$CF_TMP/daemon.log" || cf_fail "repair of cvd-wtap-02 not logged"

ip link set cvd-etap-01 nomaster
etap_back() { ip -o link show cvd-etap-01 | grep -q 'master cvd-ebr'; }
cf_wait_for 5 etap_back || cf_fail "cvd-etap-01 was not re-attached to cvd-ebr"

ip addr del 192.168.97.5/30 dev cvd-mtap-02
addr_back() { ip -o -4 addr show dev cvd-mtap-02 | grep -q '192.168.97.5/30 brd 192.168.97.7'; }
cf_wait_for 5 addr_back || cf_fail "address of cvd-mtap-02 was not restored"

ip link delete cvd-ebr
ebr_back() { ip -o link show cvd-etap-03 | grep -q 'master cvd-ebr' && ip -o -4 addr show dev cvd-ebr | grep -q 192.168.98.1/24; }
cf_wait_for 5 ebr_back || cf_fail "cvd-ebr was not recreated with its ports and address"
# dnsmasq is bound to the old bridge: it must be restarted on the new one.
dnsmasq_fresh() { [ "$(status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.restarts')" -ge 1 ]; }
cf_wait_for 5 dnsmasq_fresh || cf_fail "dnsmasq not restarted for the recreated cvd-ebr"

nft delete table inet cuttlefish_host_resources
cf_wait_for 15 nft list table inet cuttlefish_host_resources || cf_fail "nft table not restored"

assert_eq "$(count_our_links)" "$BEFORE" "link count after repairs"
[ "$(status_json | jq -r .repairs)" -ge 4 ] || cf_fail "repairs not counted"
echo "PASS"
