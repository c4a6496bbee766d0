#!/usr/bin/env bash
# A dnsmasq that does not act on SIGTERM (stopped with SIGSTOP) does not stall the daemon. While a
# reload replaces it and while the network is torn down, the daemon answers D-Bus calls at once;
# the stopped dnsmasq is sent SIGKILL after its grace time; its replacement starts only once it is
# gone (never two for one bridge); the call that waited for it returns then. On SIGTERM (the exit
# path, the one place that waits) the daemon still ends it before it exits.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_write_config "num_cvd_accounts=2"
cf_start_daemon
assert_eq "$(cf_network_state)" up "state at start"

ebr_pid() { status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.pid // 0'; }
# NetworkState, answered within busctl's timeout of one second.
state_is() {
        [ "$(busctl --system --timeout=1 get-property org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.cuttlefish.HostResources1.Manager NetworkState 2>/dev/null)" = "s \"$1\"" ]
}
# dnsmasq processes serving cvd-ebr (their command line names its config), zombies not counted.
ebr_count() {
        local p n=0
        for p in $(grep -l -a -s -e "$CF_TMP/ru[n]/dnsmasq-cvd-ebr.conf" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
                pid_alive "$p" && n=$((n + 1))
        done
        echo "$n"
}
killed_logged() { grep -q "dnsmasq (pid $1) did not exit on SIGTERM; sending SIGKILL" "$CF_TMP/daemon.log"; }

# 1. Reload with a changed dnsmasq config: both are replaced, cvd-ebr's only once it is gone.
OLD=$(ebr_pid)
[ "$OLD" -gt 1 ] || cf_fail "no dnsmasq pid for cvd-ebr: $(status_json)"
kill -STOP "$OLD"
cf_write_config "num_cvd_accounts=2" "dhcp_ping=no"
timeout 30 "$CFCTL" -q reload &
CALL=$!
cf_wait_for 5 state_is configuring || cf_fail "no answer while the reload waits for the stopped dnsmasq"
pid_alive "$OLD" || cf_fail "dnsmasq $OLD gone before the daemon answered"
assert_eq "$(ebr_count)" 1 "dnsmasq for cvd-ebr while the old one is stopped"
wait "$CALL" || cf_fail "reload failed while dnsmasq was stopped"
! pid_alive "$OLD" || cf_fail "stopped dnsmasq $OLD still there after the reload"
killed_logged "$OLD" || cf_fail "no SIGKILL logged for $OLD"
assert_eq "$(cf_network_state)" up "state after the reload"
NEW=$(ebr_pid)
[ "$NEW" -gt 1 ] && [ "$NEW" != "$OLD" ] && pid_alive "$NEW" || cf_fail "no new dnsmasq for cvd-ebr: $(status_json)"
assert_eq "$(ebr_count)" 1 "dnsmasq for cvd-ebr after the reload"
assert_eq "$(our_dnsmasq_pids | wc -l)" 2 "dnsmasq processes after the reload"
grep -q "^no-ping$" "$CF_TMP/run/dnsmasq-cvd-ebr.conf" || cf_fail "new config not written"
cf_assert_consistent

# 2. Teardown: "down" once it is gone, and the daemon answers meanwhile.
OLD=$NEW
kill -STOP "$OLD"
timeout 30 "$CFCTL" -q network down &
CALL=$!
cf_wait_for 5 state_is configuring || cf_fail "no answer while the teardown waits for the stopped dnsmasq"
pid_alive "$OLD" || cf_fail "dnsmasq $OLD gone before the daemon answered"
wait "$CALL" || cf_fail "network down failed while dnsmasq was stopped"
! pid_alive "$OLD" || cf_fail "stopped dnsmasq $OLD still there after network down"
killed_logged "$OLD" || cf_fail "no SIGKILL logged for $OLD"
assert_eq "$(cf_network_state)" down "state after network down"
assert_eq "$(our_dnsmasq_pids | wc -l)" 0 "dnsmasq processes after network down"
assert_eq "$(count_our_links)" 0 "links after network down"

# 3. The exit path: SIGTERM to the daemon with a stopped dnsmasq.
"$CFCTL" -q network up
OLD=$(ebr_pid)
[ "$OLD" -gt 1 ] || cf_fail "no dnsmasq pid for cvd-ebr after network up: $(status_json)"
kill -STOP "$OLD"
cf_stop_daemon
! pid_alive "$OLD" || cf_fail "stopped dnsmasq $OLD outlived the daemon"
killed_logged "$OLD" || cf_fail "no SIGKILL logged for $OLD at exit"
assert_eq "$(our_dnsmasq_pids | wc -l)" 0 "dnsmasq processes after exit"
assert_eq "$(grep -c "Network down: all links" "$CF_TMP/daemon.log")" 2 "teardowns finished (network down, exit)"
echo "PASS"
