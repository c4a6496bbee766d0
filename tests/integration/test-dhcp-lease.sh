#!/usr/bin/env bash
# A veth "guest" carrying slot 3's ethernet MAC gets a DHCP lease on cvd-ebr from the daemon's
# real dnsmasq, and `cfctl network status --json` shows it under slot 3. Killing dnsmasq: it is
# restarted, and the lease survives (still listed, and renewed to the same address).
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

cf_write_config "num_cvd_accounts=4" "dhcp_ping=no"
cf_start_daemon
assert_eq "$(cf_network_state)" up "network state"

MAC=00:1a:11:e1:cf:02
cf_add_guest cvd-ebr "$MAC"
IP=$(cf_guest_dhcp)
[[ "$IP" == 192.168.98.* ]] || cf_fail "guest got no lease on cvd-ebr (got '$IP')"
cf_info "guest with slot 3's MAC leased $IP"

lease_of_slot3() {
        status_json | jq -r '.slots[] | select(.number == 3) | .taps[] | select(.kind == "ethernet") | .lease.ip // empty'
}
has_lease() { [ -n "$(lease_of_slot3)" ]; }
cf_wait_for 5 has_lease || true
assert_eq "$(lease_of_slot3)" "$IP" "lease shown for slot 3"
assert_eq "$(status_json | jq -r '.slots[] | select(.number == 2) | .taps[] | select(.kind == "ethernet") | .lease')" null \
        "no lease for slot 2"

# Kill dnsmasq: the daemon restarts it, and the lease survives.
OLD=$(status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.pid')
[ "$OLD" -gt 1 ] || cf_fail "no dnsmasq pid in status"
kill -9 "$OLD"
new_pid() { status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.pid // 0'; }
restarted() { local p; p=$(new_pid); [ "$p" != 0 ] && [ "$p" != "$OLD" ] && pid_alive "$p"; }
cf_wait_for 10 restarted || cf_fail "dnsmasq was not restarted"
cf_info "dnsmasq restarted: $OLD -> $(new_pid)"
assert_eq "$(status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.restarts')" 1 "restart count"
assert_eq "$(lease_of_slot3)" "$IP" "lease still listed after the dnsmasq restart"
cf_wait_for 5 bash -c "grep -q 'dnsmasq-dhcp.*DHCP, sockets bound' '$CF_TMP/daemon.log'"
IP2=$(cf_guest_dhcp)
assert_eq "$IP2" "$IP" "same address after the dnsmasq restart"
grep -q "dnsmasq for cvd-ebr was killed by signal 9; restarting" "$CF_TMP/daemon.log" || cf_fail "restart not logged"
echo "PASS"
