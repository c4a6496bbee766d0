#!/usr/bin/env bash
# The cvd backend's lifecycle through the real daemon, with fake-launch-cvd (tests/doubles) as the
# host package's launch_cvd, which cannot run here: the owner's launch_cvd from host_package, in the
# host network namespace, attaching to the slot's taps BY NAME (the daemon holds none open), HOME
# and TMPDIR under the runtime dir, booted on VIRTUAL_DEVICE_BOOT_COMPLETED without a boot_marker
# option; Stop() through the launcher monitor socket ('X' -> 'S'); a failed boot (exit 11); a
# host package without launch_cvd; re-adoption across a daemon SIGKILL.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
[ -x "${CF_FAKE_LAUNCH_CVD:-}" ] || cf_fail "CF_FAKE_LAUNCH_CVD not built"
cf_start_polkit

U=nobody
PKG=$CF_TMP/cvd-host-package
IMAGES=$CF_TMP/images
mkdir -p "$PKG/bin" "$IMAGES" "$CF_TMP/empty-package"
install -m 0755 "$CF_FAKE_LAUNCH_CVD" "$PKG/bin/launch_cvd"
chmod 0755 "$IMAGES" "$CF_TMP/empty-package"

cf_write_config "num_cvd_accounts=3" "dhcp_ping=no"
cf_start_daemon
cf_allow_create "$U"

start() {
        as_user "$U" "$CFCTL" --no-ask-password start --wait --timeout=30 --backend=cvd --images-dir="$IMAGES" \
                --memory-mb=2048 --cpus=2 --boot-timeout-sec=30 --stop-timeout-sec=5 "$@" 2>>"$CF_TMP/cfctl-start.log" |
                tail -n 1
}
state_is() { [ "$(instance_field "$1" state)/$(instance_field "$1" reason)" = "$2" ]; }
monitor_of() { echo "$CF_TMP/run/instances/$1/tmp/cf_avd_$(id -u $U)/cvd-$1/launcher_monitor.sock"; }

# Options that cannot work are refused up front, naming the option.
out=$(as_user "$U" "$CFCTL" --no-ask-password start --backend=cvd 2>&1) && cf_fail "cvd without images_dir was accepted"
echo "$out" | grep -q "images_dir" || cf_fail "error does not name images_dir: $out"

# A host package without bin/launch_cvd: the child (as the caller) says so, nothing is kept.
out=$(as_user "$U" "$CFCTL" --no-ask-password start --backend=cvd --images-dir="$IMAGES" --host-package="$CF_TMP/empty-package" 2>&1) &&
        cf_fail "a host package without launch_cvd was accepted"
echo "$out" | grep -q "executable $CF_TMP/empty-package/bin/launch_cvd: No such file" || cf_fail "unclear error: $out"
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances kept after a failed create"

N=$(start --host-package="$PKG")
[ -n "$N" ] || cf_fail "cvd instance did not boot: $(tail -n 5 "$CF_TMP/cfctl-start.log"; cat "$CF_TMP"/run/instances/*/console.log)"
assert_eq "$(instance_field "$N" state)/$(instance_field "$N" booted)" running/true "cvd instance"
P=$(instance_field "$N" pid)
assert_eq "$(stat -c %U "/proc/$P")" "$U" "owner of launch_cvd"
assert_eq "$(readlink "/proc/$P/ns/net")" "$(readlink /proc/self/ns/net)" "network namespace of launch_cvd (the host's)"
tr '\0' ' ' < "/proc/$P/cmdline" | grep -q -- "--daemon=false --base_instance_num=$N --num_instances=1 --report_anonymous_usage_stats=n --system_image_dir=$IMAGES --cpus=2 --memory_mb=2048" ||
        cf_fail "launch_cvd command line: $(tr '\0' ' ' < "/proc/$P/cmdline")"
tr '\0' '\n' < "/proc/$P/environ" | grep -qx "HOME=$CF_TMP/run/instances/$N/home" || cf_fail "HOME of launch_cvd"
# The daemon holds no tap open: launch_cvd attached by name (the double checked with TUNSETIFF).
for t in $("$CFCTL" --json=short list | jq -r ".[] | select(.number == $N) | .taps[]"); do
        ip -d link show "$t" | grep -Eq "user ($U|$(id -u $U)) " || cf_fail "$t is not the owner's: $(ip -d link show "$t")"
done
[ -S "$(monitor_of "$N")" ] || cf_fail "no monitor socket at $(monitor_of "$N")"
out=$("$CFCTL" suspend "$N" 2>&1) && cf_fail "suspend of a cvd instance claimed success"
echo "$out" | grep -q "cannot do that" || cf_fail "suspend error: $out"

# Stop goes through the monitor socket.
"$CFCTL" stop "$N"
cf_wait_for 10 state_is "$N" stopped/requested || cf_fail "stop: $(instance_json "$N")"
grep -q "monitor action 'X' -> 'S'" "$CF_TMP/run/instances/$N/console.log" || cf_fail "stop did not use the monitor"

# run_cvd's 'F' (boot failed, exit 11) maps to failed/crashed with the reason in StatusText.
"$CFCTL" restart "$N"
running_booted() { [ "$(instance_field "$1" state) $(instance_field "$1" booted)" = "running true" ]; }
cf_wait_for 20 running_booted "$N" || cf_fail "restart: $(instance_json "$N")"
as_user "$U" "$PKG/bin/launch_cvd" fake-send F "$(monitor_of "$N")" >/dev/null
cf_wait_for 10 state_is "$N" failed/crashed || cf_fail "exit 11: $(instance_json "$N")"
busctl --system get-property org.cuttlefish.HostResources1 "/org/cuttlefish/HostResources1/instance/$N" \
        org.cuttlefish.HostResources1.Instance StatusText | grep -q "failed to boot (launch_cvd exit 11)" ||
        cf_fail "StatusText after exit 11"

# Re-adoption across a daemon SIGKILL, then Stop() through the monitor still works.
"$CFCTL" restart "$N"
cf_wait_for 20 running_booted "$N" || cf_fail "restart: $(instance_json "$N")"
P=$(instance_field "$N" pid)
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
pid_alive "$P" || cf_fail "launch_cvd died with the daemon"
cf_start_daemon
grep -q "Instance $N (uid $(id -u $U)): re-adopted running VMM (pid $P)" "$CF_TMP/daemon.log" || cf_fail "not re-adopted"
cf_wait_for 10 running_booted "$N" || cf_fail "after re-adoption: $(instance_json "$N")"
"$CFCTL" stop "$N"
cf_wait_for 10 state_is "$N" stopped/requested || cf_fail "stop after re-adoption: $(instance_json "$N")"
! pid_alive "$P" || cf_fail "launch_cvd still runs after stop"
"$CFCTL" rm "$N"
echo "PASS"
