#!/usr/bin/env bash
# The crosvm backend's lifecycle through the real daemon, with fake-crosvm (tests/doubles) standing
# in for crosvm, which cannot run here: create -> running/booted as the owner with the taps as fds,
# suspend/resume and stop through "crosvm suspend|resume|stop SOCKET" run as the owner, crosvm's
# exit codes (32 reset -> restarted by policy, 33 crashed, 34 guest-panic, 36 watchdog), a flag
# crosvm would reject, the host's CPU topology from a device tree, and re-adoption across a daemon
# SIGKILL.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
[ -x "${CF_FAKE_CROSVM:-}" ] || cf_fail "CF_FAKE_CROSVM not built"
cf_start_polkit

U=nobody
# The VMM runs as $U in its sandbox: the double and the "kernel" must be readable there.
mkdir -p "$CF_TMP/bin"
install -m 0755 "$CF_FAKE_CROSVM" "$CF_TMP/bin/fake-crosvm"
export CF_CROSVM=$CF_TMP/bin/fake-crosvm
KERNEL=$CF_TMP/vmlinuz
echo "not a kernel: fake-crosvm does not boot it" > "$KERNEL"
chmod 0644 "$KERNEL"
MARKER="fake-crosvm: guest booted"

# The host's CPU topology as an Arm host's device tree gives it (big.LITTLE: cpus 0-3 at 512,
# 4-5 at 1024): crosvm gets the guest's share of the clusters and capacities.
[ -x "${CF_MKFDT:-}" ] || cf_fail "CF_MKFDT not built"
"$CF_MKFDT" --write-big-little "$CF_TMP/host.fdt" || cf_fail "writing the device tree"
export CF_HOST_FDT=$CF_TMP/host.fdt
cf_write_config "num_cvd_accounts=3" "dhcp_ping=no"
cf_start_daemon
cf_allow_create "$U"

start() {
        as_user "$U" "$CFCTL" --no-ask-password start --wait --timeout=30 --backend=crosvm --kernel="$KERNEL" \
                --memory-mb=256 --cpus=1 --boot-marker="$MARKER" --boot-timeout-sec=30 --stop-timeout-sec=5 "$@" \
                2>>"$CF_TMP/cfctl-start.log" | tail -n 1
}
state_is() { [ "$(instance_field "$1" state)/$(instance_field "$1" reason)" = "$2" ]; }
running_booted() { [ "$(instance_field "$1" state) $(instance_field "$1" booted)" = "running true" ]; }
restart_count() {
        busctl --system get-property org.cuttlefish.HostResources1 "/org/cuttlefish/HostResources1/instance/$1" \
                org.cuttlefish.HostResources1.Instance RestartCount | awk '{print $2}'
}
socket_of() { echo "$CF_TMP/run/instances/$1/crosvm_control.sock"; }
guest_exits() { as_user "$U" "$CF_TMP/bin/fake-crosvm" fake-exit "$2" "$(socket_of "$1")" || cf_fail "fake-exit $2 on $1"; }

# A flag crosvm does not have: the double refuses it (exit 2), the instance fails and says so.
start --extra-arg=--no-such-flag --restart=no >/dev/null || true
cf_wait_for 10 state_is 1 failed/crashed ||
        cf_fail "an unknown crosvm flag did not fail the instance: $("$CFCTL" --json=short list)"
grep -q "unknown flag --no-such-flag" "$CF_TMP/run/instances/1/console.log" || cf_fail "the double did not say why"
"$CFCTL" rm 1

# B: restart=no; running, booted, the owner's, the taps as fds 3-5.
B=$(start --restart=no)
[ -n "$B" ] || cf_fail "crosvm instance did not boot: $(tail -n 5 "$CF_TMP/cfctl-start.log")"
assert_eq "$(instance_field "$B" state)" running "state of $B"
assert_eq "$(instance_field "$B" booted)" true "booted of $B"
assert_eq "$(instance_field "$B" backend)" crosvm "backend of $B"
P=$(instance_field "$B" pid)
assert_eq "$(stat -c %U "/proc/$P")" "$U" "owner of the VMM"
tr '\0' ' ' < "/proc/$P/cmdline" | grep -q -E -- "--extended-status --no-syslog run --socket=/proc/self/fd/[0-9]+ --mem=256 --cpus=1" ||
        cf_fail "crosvm command line: $(tr '\0' ' ' < "/proc/$P/cmdline")"
# The control socket was bound by the daemon as the owner and handed over listening (the double
# checks SO_ACCEPTCONN and SOCK_SEQPACKET as crosvm does); "crosvm stop" finds it at its path.
[ -S "$(socket_of "$B")" ] || cf_fail "no control socket at $(socket_of "$B")"
assert_eq "$(stat -c %U "$(socket_of "$B")")" "$U" "owner of the control socket"
[ "$(readlink "/proc/$P/fd/3")" = /dev/net/tun ] || cf_fail "fd 3 of the VMM is not a tap"
tr '\0' ' ' < "/proc/$P/cmdline" | grep -q -- "--cpus=1 --cpu-cluster=0 --cpu-capacity=0=512 " ||
        cf_fail "CPU topology not passed: $(tr '\0' ' ' < "/proc/$P/cmdline")"

"$CFCTL" suspend "$B"
cf_wait_for 10 state_is "$B" suspended/requested || cf_fail "suspend: $(instance_json "$B")"
grep -q "fake-crosvm: suspend (suspended)" "$CF_TMP/run/instances/$B/console.log" || cf_fail "suspend did not reach crosvm"
"$CFCTL" resume "$B"
cf_wait_for 10 state_is "$B" running/requested || cf_fail "resume: $(instance_json "$B")"
"$CFCTL" stop "$B"
cf_wait_for 10 state_is "$B" stopped/requested || cf_fail "stop: $(instance_json "$B")"
grep -q "fake-crosvm: stop" "$CF_TMP/run/instances/$B/console.log" || cf_fail "stop did not go through crosvm stop"

# crosvm's exit codes, one run each (Restart() starts a stopped or failed instance again).
for c in 33:failed/crashed 34:failed/guest-panic 36:failed/watchdog 32:stopped/guest-reset; do
        "$CFCTL" restart "$B"
        cf_wait_for 20 running_booted "$B" ||
                cf_fail "restart of $B: $(instance_json "$B")"
        guest_exits "$B" "${c%%:*}"
        cf_wait_for 10 state_is "$B" "${c#*:}" || cf_fail "exit ${c%%:*}: expected ${c#*:}, got $(instance_json "$B")"
done

# A: restart=on-failure; a guest reset (32) is started again, like Cuttlefish's process_restarter.
A=$(start --restart=on-failure)
[ -n "$A" ] || cf_fail "instance A did not boot"
PA=$(instance_field "$A" pid)
guest_exits "$A" 32
restarted_once() { [ "$(restart_count "$1")" = 1 ]; }
cf_wait_for 20 restarted_once "$A" ||
        cf_fail "exit 32 was not restarted: $(instance_json "$A")"
cf_wait_for 20 running_booted "$A" ||
        cf_fail "A after the reset: $(instance_json "$A")"
[ "$(instance_field "$A" pid)" != "$PA" ] || cf_fail "A still has the old VMM"
assert_eq "$(restart_count "$A")" 1 "restarts of A"

# Re-adoption: the daemon dies, the fake VM lives on, a new daemon takes it back and controls it.
PA=$(instance_field "$A" pid)
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
pid_alive "$PA" || cf_fail "the VMM died with the daemon"
cf_start_daemon
grep -q "Instance $A (uid $(id -u $U)): re-adopted running VMM (pid $PA)" "$CF_TMP/daemon.log" || cf_fail "A not re-adopted"
cf_wait_for 10 state_is "$A" running/requested || cf_fail "A after re-adoption: $(instance_json "$A")"
"$CFCTL" suspend "$A"
cf_wait_for 10 state_is "$A" suspended/requested || cf_fail "suspend after re-adoption: $(instance_json "$A")"
"$CFCTL" stop "$A"
cf_wait_for 10 state_is "$A" stopped/requested || cf_fail "stop after re-adoption: $(instance_json "$A")"
! pid_alive "$PA" || cf_fail "the re-adopted VMM still runs after stop"

"$CFCTL" rm "$A" "$B"
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances left"
echo "PASS"
