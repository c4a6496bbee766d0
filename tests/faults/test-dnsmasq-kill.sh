#!/usr/bin/env bash
# dnsmasq killed eight times in a row: the daemon starts a new one each time (with its back-off:
# 0.1 s doubling to 10 s, about 23 s in all), never two for one bridge, counts the restarts, and a
# guest still gets a lease afterwards.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_write_config "num_cvd_accounts=2" "dhcp_ping=no"
cf_start_daemon
LINKS=$(count_our_links)
ebr_pid() { status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.pid'; }

for k in $(seq 8); do
        old=$(ebr_pid)
        [ -n "$old" ] && [ "$old" != null ] && [ "$old" != 0 ] || cf_fail "no dnsmasq pid for cvd-ebr ($k)"
        kill -9 "$old"
        replaced() { local p; p=$(ebr_pid); [ -n "$p" ] && [ "$p" != null ] && [ "$p" != 0 ] && [ "$p" != "$old" ] && pid_alive "$p"; }
        cf_wait_for 30 replaced || cf_fail "dnsmasq for cvd-ebr not restarted after kill $k: $(status_json)"
        assert_eq "$(our_dnsmasq_pids | wc -l)" 2 "dnsmasq children after kill $k"
done
[ "$(status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.restarts')" -ge 8 ] ||
        cf_fail "restarts not counted: $(status_json)"
cf_assert_consistent "$LINKS"

cf_add_guest cvd-ebr 00:1a:11:e1:cf:00
LEASE=$(cf_guest_dhcp)
[ -n "$LEASE" ] || cf_fail "no lease after the dnsmasq kills"
cf_info "lease $LEASE after 8 kills"
echo "PASS"
