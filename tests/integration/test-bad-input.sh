#!/usr/bin/env bash
# Bad input gets a clear error and loses nothing: a bad config value refuses to start with
# file:line: reason; num_cvd_accounts=0 or past the pools names the limit; unknown keys warn;
# cfctl usage errors exit 2; a caller without rights gets AccessDenied; no service -> says so.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

refuses() { # refuses EXPECTED-MESSAGE config-lines...
        local want=$1 rc; shift
        cf_write_config "$@"
        set +e
        timeout 20 "$DAEMON" --config="$CF_TMP/config" --runtime-dir="$CF_TMP/run" --state-dir="$CF_TMP/state" \
                </dev/null >"$CF_TMP/refused.log" 2>&1
        rc=$?
        set -e
        assert_eq "$rc" 1 "exit code for '$*'"
        grep -qF -- "$want" "$CF_TMP/refused.log" || cf_fail "message for '$*' lacks '$want': $(cat "$CF_TMP/refused.log")"
        assert_eq "$(count_our_links)" 0 "links after a refused start"
}

# The line number counts the comment line cf_write_config puts first.
refuses "$CF_TMP/config:3: ipv4_bridge=maybe: not a boolean" "num_cvd_accounts=2" "ipv4_bridge=maybe"
refuses "$CF_TMP/config:2: num_cvd_accounts=0: out of range. Use between 1 and 253" "num_cvd_accounts=0"
refuses "$CF_TMP/config:2: num_cvd_accounts=200: past the address pools, which hold 128 slots" "num_cvd_accounts=200"
refuses "lower num_cvd_accounts to 128" "num_cvd_accounts=129"
refuses "$CF_TMP/config:2: num_cvd_accounts=ten: not a number" "num_cvd_accounts=ten"
refuses "$CF_TMP/config:2: unterminated quote" "dns_servers=\"8.8.8.8"
refuses "$CF_TMP/config:2: dns_servers=8.8.8.8,nope: 'nope' is not an IPv4 address" "dns_servers=8.8.8.8,nope"
refuses "$CF_TMP/config:2: mobile_ipv4_pools=10.0.0.0/16: '10.0.0.0/16' is not a /24" "mobile_ipv4_pools=10.0.0.0/16"
refuses "shell expansion is not supported" "bridge_interface=\$BR"
rm -f "$CF_TMP/config"
set +e
"$DAEMON" --config="$CF_TMP/missing" --runtime-dir="$CF_TMP/run" --state-dir="$CF_TMP/state" >"$CF_TMP/refused.log" 2>&1
RC=$?
set -e
assert_eq "$RC" 1 "exit code for a missing --config file"
grep -q "$CF_TMP/missing: cannot read: No such file or directory" "$CF_TMP/refused.log" || cf_fail "missing file message"

# --check-config validates without touching anything.
cf_write_config "num_cvd_accounts=250" "mobile_ipv4_pools=192.168.97.0/24,192.168.93.0/24,192.168.90.0/24,192.168.91.0/24" \
        "wifiap_ipv4_pools=192.168.94.0/24,192.168.95.0/24,192.168.88.0/24,192.168.89.0/24"
"$DAEMON" --config="$CF_TMP/config" --check-config 2>&1 | grep -q "OK, 250 slots" || cf_fail "--check-config of a 250-slot config"

# Unknown keys warn and the daemon starts.
cf_write_config "num_cvd_accounts=2" "num_cvd_acounts=3"
cf_start_daemon
grep -q "$CF_TMP/config:3: unknown key 'num_cvd_acounts' ignored" "$CF_TMP/daemon.log" || cf_fail "unknown key not warned"
assert_eq "$(count_our_links)" 10 "links for 2 slots"

# cfctl usage errors: exit 2, one line on stderr.
for args in "" "frobnicate" "network sideways" "--json=yaml network" "network up extra"; do
        set +e
        # shellcheck disable=SC2086
        OUT=$("$CFCTL" $args 2>&1)
        RC=$?
        set -e
        assert_eq "$RC" 2 "exit code of 'cfctl $args'"
        assert_eq "$(echo "$OUT" | wc -l)" 1 "lines of error output of 'cfctl $args'"
done

# A caller without rights, no polkit on this bus: AccessDenied from the daemon (the bus policy lets
# the call through; test-polkit.sh covers the polkit answers).
set +e
OUT=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CFCTL" network down 2>&1)
RC=$?
set -e
assert_eq "$RC" 1 "exit code of an unprivileged network down"
[[ "$OUT" == *"needs root while polkit is not running"* ]] || cf_fail "unprivileged caller: $OUT"
assert_eq "$(count_our_links)" 10 "links after a refused network down"
# ... but reading is allowed.
setpriv --reuid=nobody --regid=nogroup --clear-groups "$CFCTL" --json=short network status | jq -e '.state == "up"' >/dev/null ||
        cf_fail "unprivileged status"

# Wrong argument types over D-Bus are refused by sd-bus and do not crash the daemon.
set +e
busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager SetupNetwork s bogus >/dev/null 2>&1
set -e
busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager NoSuchMethod >/dev/null 2>&1 && cf_fail "unknown method accepted"
pid_alive "$DAEMON_PID" || cf_fail "daemon died on bad input"

# No service on the bus: cfctl says what to do.
cf_stop_daemon
set +e
OUT=$("$CFCTL" network status 2>&1)
RC=$?
set -e
assert_eq "$RC" 1 "exit code without a service"
[[ "$OUT" == *"the service is not running"* ]] || cf_fail "no-service message: $OUT"
echo "PASS"
