#!/usr/bin/env bash
# SIGKILL the daemon while two guests run, start it again: both are re-adopted (same VMM pids,
# still running and booted, still controllable over QMP, still answering on the network), and
# nothing is duplicated or leaked. A recorded VMM that died meanwhile becomes failed/daemon-lost.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_build_guest

cf_write_config "num_cvd_accounts=3" "dhcp_ping=no"
cf_start_daemon
# Root owns these (no polkitd on this bus); ownership is covered by test-guests.sh.
N1=$(cf_start_guest root)
N2=$(cf_start_guest root)
[ -n "$N1" ] && [ -n "$N2" ] || cf_fail "guests did not boot: $(tail -n 5 "$CF_TMP/cfctl-start.log")"
P1=$(instance_field "$N1" pid)
P2=$(instance_field "$N2" pid)
IP1=$(status_json | jq -r ".slots[] | select(.number == $N1) | .taps[] | select(.kind == \"ethernet\") | .lease.ip // empty")
[ -n "$IP1" ] || cf_fail "no lease for instance $N1"
busybox ping -c 1 -W 3 "$IP1" >/dev/null || cf_fail "guest $N1 ($IP1) does not answer before the restart"
LINKS=$(count_our_links)

kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
pid_alive "$P1" && pid_alive "$P2" || cf_fail "a VMM died with the daemon"

cf_start_daemon
grep -q "Instance $N1 (uid 0): re-adopted running VMM (pid $P1)" "$CF_TMP/daemon.log" || cf_fail "$N1 not re-adopted"
grep -q "Instance $N2 (uid 0): re-adopted running VMM (pid $P2)" "$CF_TMP/daemon.log" || cf_fail "$N2 not re-adopted"
running() { [ "$(instance_field "$1" state)" = running ] && [ "$(instance_field "$1" booted)" = true ]; }
cf_wait_for 10 running "$N1" || cf_fail "instance $N1 after restart: $(instance_json "$N1")"
cf_wait_for 10 running "$N2" || cf_fail "instance $N2 after restart: $(instance_json "$N2")"
assert_eq "$(instance_field "$N1" pid)" "$P1" "VMM pid of $N1"
assert_eq "$("$CFCTL" --json=short list | jq length)" 2 "instances after restart"
assert_eq "$(count_our_links)" "$LINKS" "links after restart"
assert_eq "$(our_dnsmasq_pids | wc -l)" 2 "dnsmasq after restart"
busybox ping -c 1 -W 3 "$IP1" >/dev/null || cf_fail "guest $N1 ($IP1) does not answer after the restart"

# Still controllable: QMP reconnected.
"$CFCTL" suspend "$N1"
cf_wait_for 10 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $N1) | .state')\" = suspended ]" ||
        cf_fail "suspend after re-adoption"
# A guest paused across a daemon restart is still reported suspended, and resumes.
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
cf_start_daemon
cf_wait_for 10 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $N1) | .state')\" = suspended ]" ||
        cf_fail "suspended guest not reported suspended after re-adoption: $(instance_json "$N1")"
"$CFCTL" resume "$N1"
cf_wait_for 10 running "$N1" || cf_fail "resume after re-adoption: $(instance_json "$N1")"

# A VMM that dies while the daemon is away: failed/daemon-lost on the next start, slot released.
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
kill -9 "$P2"
cf_wait_for 10 bash -c "! kill -0 $P2 2>/dev/null || [ \"\$(awk '{print \$3}' /proc/$P2/stat)\" = Z ]" || true
cf_start_daemon
lost() { [ "$(instance_field "$N2" state)/$(instance_field "$N2" reason)" = failed/daemon-lost ]; }
cf_wait_for 10 lost || cf_fail "dead VMM not marked failed/daemon-lost: $(instance_json "$N2")"
running "$N1" || cf_fail "instance $N1 disturbed by the second restart"

# The QMP socket is the owner's, in the owner's directory: what is put in its place is never
# followed. With the daemon away, qmp.sock becomes a link to another listening socket (the bus's);
# the restarted daemon refuses it before connecting (a daemon that connected and then checked the
# peer would say "not served by the VMM"), and the guest is left running, stoppable by signals.
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
SOCK=$CF_TMP/run/instances/$N1/qmp.sock
BUS_SOCK=${DBUS_SYSTEM_BUS_ADDRESS#unix:path=}
BUS_SOCK=${BUS_SOCK%%,*}
[ -S "$SOCK" ] && [ -S "$BUS_SOCK" ] || cf_fail "no QMP socket at $SOCK or bus socket at $BUS_SOCK"
mv "$SOCK" "$SOCK.real"
ln -s "$BUS_SOCK" "$SOCK"
cf_start_daemon
refused() { grep -q "QMP socket $SOCK: Too many levels of symbolic links" "$CF_TMP/daemon.log"; }
cf_wait_for 10 refused || cf_fail "a symlink at the QMP socket's path was not refused: $(grep -i qmp "$CF_TMP/daemon.log" | tail -n 3)"
pid_alive "$P1" || cf_fail "the guest died when its QMP socket was refused"

# SIGTERM with a guest running keeps the network for it; rm then SIGTERM cleans up.
cf_stop_daemon
pid_alive "$P1" || cf_fail "SIGTERM of the daemon killed a guest"
assert_eq "$(count_our_links)" "$LINKS" "links kept for the running guest"
cf_start_daemon
cfctl rm "$N1" "$N2"
cf_stop_daemon
! pid_alive "$P1" || cf_fail "VMM of $N1 still runs after rm"
assert_eq "$(count_our_links)" 0 "links after the last stop"
echo "PASS"
