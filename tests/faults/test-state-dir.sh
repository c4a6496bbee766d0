#!/usr/bin/env bash
# The daemon's directories full or read-only: while the runtime dir (state.json) is full, then
# read-only, instances still start and change state, the daemon says it cannot save and keeps
# trying; once space returns the state is saved, and a daemon SIGKILLed after that re-adopts the
# guest (nothing lost). A read-only state dir (dnsmasq's leases) stops dnsmasq from restarting
# until it is writable again, then the network comes back by itself. Each directory is a small
# tmpfs in the test's own mount namespace; "read-only" is a read-only tmpfs mounted over it (a
# remount would fail: the VMM and dnsmasq hold files open for writing), so new files fail with
# EROFS while the open ones carry on.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_build_guest
mkdir -p "$CF_TMP/run" "$CF_TMP/state"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$CF_TMP/run" || cf_skip "cannot mount a tmpfs"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$CF_TMP/state"
cf_write_config "num_cvd_accounts=2" "dhcp_ping=no"
cf_start_daemon
LINKS=$(count_our_links)
saved() { jq -e --argjson n "$1" '[.instances[].number] | index($n) != null' "$CF_TMP/run/state.json" >/dev/null 2>&1; }

cf_info "runtime dir full"
dd if=/dev/zero of="$CF_TMP/run/filler" bs=64k 2>/dev/null || true
N=$("$CFCTL" start --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" --memory-mb=128 --cpus=1 --cmdline="console=ttyS0 quiet") ||
        cf_fail "start with the runtime dir full"
running() { [ "$(instance_field "$N" state)" = running ]; }
cf_wait_for 20 running || cf_fail "instance $N not running: $(instance_json "$N")"
cf_wait_for 10 grep -q "Will try to save the instance state again" "$CF_TMP/daemon.log" || cf_fail "no retry announced"
saved "$N" && cf_fail "state.json was written on a full file system?"
rm -f "$CF_TMP/run/filler"
cf_wait_for 10 saved "$N" || cf_fail "state not saved once space returned"
grep -q "Saved the instance state again" "$CF_TMP/daemon.log" || cf_fail "recovery not logged"
PID=$(instance_field "$N" pid)
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
cf_start_daemon
cf_wait_for 10 running || cf_fail "not re-adopted: $(instance_json "$N")"
assert_eq "$(instance_field "$N" pid)" "$PID" "re-adopted VMM pid"
cf_assert_consistent "$LINKS"

cf_info "runtime dir read-only"
mount -t tmpfs -o ro,size=64k tmpfs "$CF_TMP/run"
"$CFCTL" suspend "$N" || cf_fail "suspend with the runtime dir read-only"
suspended() { [ "$(instance_field "$N" state)" = suspended ]; }
cf_wait_for 10 suspended || cf_fail "not suspended: $(instance_json "$N")"
saved_state() { [ "$(jq -r --argjson n "$N" '.instances[] | select(.number == $n) | .state' "$CF_TMP/run/state.json")" = "$1" ]; }
saved_state suspended && cf_fail "state.json changed on a read-only file system?"
umount "$CF_TMP/run"
cf_wait_for 40 saved_state suspended || cf_fail "suspended state not saved once writable"
"$CFCTL" resume "$N" || cf_fail "resume"
cf_wait_for 10 running || cf_fail "resume: $(instance_json "$N")"
cf_assert_consistent "$LINKS"

cf_info "state dir read-only: dnsmasq cannot keep its leases"
mount -t tmpfs -o ro,size=64k tmpfs "$CF_TMP/state"
ebr_pid() { status_json | jq -r '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.pid // 0'; }
OLD=$(ebr_pid)
kill -9 "$OLD"
# The restarted dnsmasq cannot open its lease file and exits: the daemon sees it and backs off.
restart_failed() { grep -q "dnsmasq for cvd-ebr exited with status" "$CF_TMP/daemon.log"; }
cf_wait_for 10 restart_failed || cf_fail "dnsmasq's failing restart not noticed: $(grep 'dnsmasq for cvd-ebr' "$CF_TMP/daemon.log")"
umount "$CF_TMP/state"
back() { [ "$(cf_network_state)" = up ] && [ "$(our_dnsmasq_pids | wc -l)" = 2 ]; }
cf_wait_for 60 back || cf_fail "network not back once the state dir is writable: $(status_json)"
cf_assert_consistent "$LINKS"

"$CFCTL" rm "$N" || cf_fail "rm"
cf_assert_consistent "$LINKS"
echo "PASS"
