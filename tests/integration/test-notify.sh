#!/usr/bin/env bash
# The sd_notify contract of a Type=notify service: READY=1 once the bus name is owned and the
# network is up, STATUS= lines naming the network state, RELOADING=1 then READY=1 on Reload(),
# and STOPPING=1 on SIGTERM.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

"$CF_BUILD_DIR/tests/helpers/notify-listen" "$CF_TMP/notify" > "$CF_TMP/notify.log" 2>&1 &
CF_PIDS+=($!)
cf_wait_for 5 test -S "$CF_TMP/notify" || cf_fail "notify listener"
export NOTIFY_SOCKET=$CF_TMP/notify

cf_write_config "num_cvd_accounts=3"
cf_start_daemon
cf_wait_for 5 grep -q "^READY=1" "$CF_TMP/notify.log" || cf_fail "no READY=1: $(cat "$CF_TMP/notify.log")"
grep -q "STATUS=Network up, 3 slots, 0 instances" "$CF_TMP/notify.log" || cf_fail "no STATUS with the network state"

cf_write_config "num_cvd_accounts=4"
cfctl -q reload
cf_wait_for 5 grep -q "^RELOADING=1;STATUS=Reloading configuration;MONOTONIC_USEC=" "$CF_TMP/notify.log" ||
        cf_fail "no RELOADING=1"
cf_wait_for 5 grep -q "STATUS=Network up, 4 slots" "$CF_TMP/notify.log" || cf_fail "STATUS not updated after reload"
assert_eq "$(grep -c '^READY=1' "$CF_TMP/notify.log")" 2 "READY=1 after the reload"

cf_stop_daemon
cf_wait_for 5 grep -q "^STOPPING=1" "$CF_TMP/notify.log" || cf_fail "no STOPPING=1"
cf_wait_for 5 grep -q "STATUS=Network down" "$CF_TMP/notify.log" || cf_fail "no STATUS after teardown"
echo "PASS"
