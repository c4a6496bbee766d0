#!/usr/bin/env bash
# Reload() from 10 to 20 slots and back to 5 leaves exactly the right links (and NAT sources);
# SIGHUP does the same; a bad file on reload is refused with file:line and changes nothing.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

expected_links() {
        local n=$1 i
        echo cvd-ebr; echo cvd-wbr
        for (( i=1; i<=n; i++ )); do
                printf 'cvd-etap-%02d\ncvd-wtap-%02d\ncvd-mtap-%02d\ncvd-wifiap-%02d\n' $i $i $i $i
        done
}
check_slots() {
        assert_eq "$(our_links)" "$(expected_links "$1" | sort)" "links for $1 slots"
        assert_eq "$(status_json | jq '.slot_count')" "$1" "slot_count"
        assert_eq "$(busctl --system get-property org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.cuttlefish.HostResources1.Manager Slots)" "u $1" "Slots property"
        # every wtap on cvd-wbr, every etap on cvd-ebr
        assert_eq "$(ip -o link show master cvd-wbr | wc -l)" "$1" "ports on cvd-wbr"
        assert_eq "$(ip -o link show master cvd-ebr | wc -l)" "$1" "ports on cvd-ebr"
        assert_eq "$(nft -j list set inet cuttlefish_host_resources nat_sources | jq '[.nftables[].set.elem // empty | .[]] | length')" \
                "$(( 2 + 2 * $1 ))" "NAT sources"
}

cf_write_config "num_cvd_accounts=10"
cf_start_daemon
check_slots 10

# Every EMITS_CHANGE property really emits: watch PropertiesChanged while reloading.
busctl --system monitor --match="type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='/org/cuttlefish/HostResources1'" \
        </dev/null >"$CF_TMP/monitor.log" 2>&1 &
CF_PIDS+=($!)
cf_wait_for 5 grep -q "Monitoring bus" "$CF_TMP/monitor.log" || true
cf_write_config "num_cvd_accounts=20"
cfctl -q reload
check_slots 20
changed() { grep -A30 PropertiesChanged "$CF_TMP/monitor.log" | grep -q "UINT32 20"; }
cf_wait_for 5 changed || cf_fail "no PropertiesChanged with Slots=20: $(head -c 2000 "$CF_TMP/monitor.log")"
grep -q 'STRING "Slots"' "$CF_TMP/monitor.log" || cf_fail "PropertiesChanged does not name Slots"
cfctl -q network down
states() { grep -A40 PropertiesChanged "$CF_TMP/monitor.log" | grep -o 'STRING "\(down\|configuring\|up\)"' | tr '\n' ' '; }
cf_wait_for 5 bash -c "grep -q 'STRING \"down\"' '$CF_TMP/monitor.log'" || cf_fail "no NetworkState=down signal: $(states)"
cfctl -q network up

cf_write_config "num_cvd_accounts=5"
cfctl -q reload
check_slots 5

# SIGHUP is Reload() too.
cf_write_config "num_cvd_accounts=7"
kill -HUP "$DAEMON_PID"
cf_wait_for 5 bash -c "[ \"\$('$CFCTL' --json=short network status | jq .slot_count)\" = 7 ]" || cf_fail "SIGHUP did not reload"
check_slots 7

# A bad file: refused with file:line, and the running configuration stays.
printf '%s\n' "num_cvd_accounts=9" "# comment" "ipv4_bridge=maybe" > "$CF_TMP/config"
set +e
ERR=$("$CFCTL" reload 2>&1)
RC=$?
set -e
assert_eq "$RC" 1 "exit code of a refused reload"
[[ "$ERR" == *"$CF_TMP/config:3: ipv4_bridge=maybe: not a boolean"* ]] || cf_fail "reload error lacks file:line: $ERR"
[[ "$ERR" == *"unchanged"* ]] || cf_fail "reload error does not say the configuration is unchanged: $ERR"
check_slots 7
echo "PASS"
