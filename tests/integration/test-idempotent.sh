#!/usr/bin/env bash
# Starting twice duplicates nothing: SetupNetwork() again, a second daemon (refused), and a
# daemon killed with SIGKILL then started again leave exactly one set of links, addresses,
# nft rules and dnsmasq processes.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

snapshot() {
        {
                ip -o link show group "$GROUP" | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
                ip -o addr show | awk '{print $2, $3, $4}' | grep -v '^lo ' | sort
                nft list ruleset | sed 's/packets [0-9]* bytes [0-9]*//'
                echo "dnsmasq: $(our_dnsmasq_pids | wc -l)"
        }
}

cf_write_config "num_cvd_accounts=5"
cf_start_daemon
S1=$(snapshot)
assert_eq "$(count_our_links)" 22 "links for 5 slots"
assert_eq "$(our_dnsmasq_pids | wc -l)" 2 "dnsmasq processes"
assert_eq "$(nft list table inet cuttlefish_host_resources | grep -c masquerade)" 1 "masquerade rules"

cfctl -q network up
cfctl -q network up
assert_eq "$(snapshot)" "$S1" "state after SetupNetwork twice"
grep -q "Network up: 5 slots, 0 links created, 0 removed, 0 changed, 0 address changes" "$CF_TMP/daemon.log" ||
        cf_fail "second SetupNetwork changed something"

# A second daemon on the same runtime dir (or bus name) is refused and changes nothing.
set +e
"$DAEMON" --config="$CF_TMP/config" --runtime-dir="$CF_TMP/run" --state-dir="$CF_TMP/state" \
        </dev/null >"$CF_TMP/second.log" 2>&1
RC=$?
set -e
assert_eq "$RC" 1 "exit code of a second daemon"
grep -q "Another cuttlefish-host-resourcesd (pid $DAEMON_PID) is using" "$CF_TMP/second.log" ||
        cf_fail "second daemon's refusal does not name the first: $(cat "$CF_TMP/second.log")"
assert_eq "$(snapshot)" "$S1" "state after a refused second daemon"

# SIGKILL, then start again: the old dnsmasq (now orphaned) is replaced, nothing duplicated.
OLD_DNSMASQ=$(our_dnsmasq_pids | sort | tr '\n' ' ')
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
cf_start_daemon
assert_eq "$(cf_network_state)" up "state after restart"
assert_eq "$(our_dnsmasq_pids | wc -l)" 2 "dnsmasq processes after restart"
for p in $OLD_DNSMASQ; do
        ! pid_alive "$p" || cf_fail "dnsmasq $p of the killed daemon still runs"
done
assert_eq "$(snapshot | grep -v dnsmasq)" "$(echo "$S1" | grep -v dnsmasq)" "state after daemon restart"
grep -q "left by an earlier run" "$CF_TMP/daemon.log" || cf_fail "stale dnsmasq replacement not logged"
echo "PASS"
