#!/usr/bin/env bash
# IPv6 prefixes on the managed bridges: the bridge gets "<prefix>1/<len>", dnsmasq does
# stateless RA for it, and IPv6 forwarding is switched on only because a prefix is configured.
# With restore_sysctls=1 the forwarding sysctls go back to their old values at teardown.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

echo 0 > /proc/sys/net/ipv4/ip_forward
echo 0 > /proc/sys/net/ipv6/conf/all/forwarding

# Without a prefix IPv6 forwarding is left alone (the reference always turns it on).
cf_write_config "num_cvd_accounts=2" "restore_sysctls=1"
cf_start_daemon
assert_eq "$(cat /proc/sys/net/ipv4/ip_forward)" 1 "ip_forward"
assert_eq "$(cat /proc/sys/net/ipv6/conf/all/forwarding)" 0 "ipv6 forwarding without a prefix"
cf_stop_daemon
assert_eq "$(cat /proc/sys/net/ipv4/ip_forward)" 0 "ip_forward restored"

cf_write_config "num_cvd_accounts=2" "restore_sysctls=1" \
        "ethernet_ipv6_prefix=fd00:cf:1::" "ethernet_ipv6_prefix_length=64" \
        "wifi_ipv6_prefix='fd00:cf:2::'" "wifi_ipv6_prefix_length=64"
cf_start_daemon
ip -6 addr show dev cvd-ebr | grep -q "fd00:cf:1::1/64" || cf_fail "cvd-ebr lacks fd00:cf:1::1/64"
ip -6 addr show dev cvd-wbr | grep -q "fd00:cf:2::1/64" || cf_fail "cvd-wbr lacks fd00:cf:2::1/64"
grep -q "^dhcp-range=fd00:cf:1::,ra-stateless,64$" "$CF_TMP/run/dnsmasq-cvd-ebr.conf" || cf_fail "no RA range"
grep -q "^enable-ra$" "$CF_TMP/run/dnsmasq-cvd-ebr.conf" || cf_fail "RA not enabled"
assert_eq "$(stat -c %a "$CF_TMP/run/dnsmasq-cvd-ebr.conf")" 600 "dnsmasq config mode"
assert_eq "$(cat /proc/sys/net/ipv6/conf/all/forwarding)" 1 "ipv6 forwarding with a prefix"
assert_eq "$(status_json | jq -r '.bridges[0].ipv6_prefix')" "fd00:cf:1::" "prefix in status"

# A changed prefix on reload replaces the old address rather than adding a second one.
cf_write_config "num_cvd_accounts=2" "restore_sysctls=1" \
        "ethernet_ipv6_prefix=fd00:cf:9::" "ethernet_ipv6_prefix_length=64"
cfctl -q reload
ip -6 addr show dev cvd-ebr | grep -q "fd00:cf:9::1/64" || cf_fail "new prefix not applied"
! ip -6 addr show dev cvd-ebr | grep -q "fd00:cf:1::1" || cf_fail "old prefix address left on cvd-ebr"
grep -q "^dhcp-range=fd00:cf:9::,ra-stateless,64$" "$CF_TMP/run/dnsmasq-cvd-ebr.conf" || cf_fail "dnsmasq not reconfigured"
cf_stop_daemon
assert_eq "$(cat /proc/sys/net/ipv6/conf/all/forwarding)" 0 "ipv6 forwarding restored"
echo "PASS"
