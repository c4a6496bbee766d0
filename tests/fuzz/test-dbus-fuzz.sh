#!/usr/bin/env bash
# The D-Bus fuzzer (dbus-fuzz.c) against the live daemon, with real polkitd and dnsmasq, as root
# and as a user without rights: every method of every interface, right and wrong signatures,
# existing, missing and malformed instance paths. Instance 1 is a real QEMU guest the fuzzer may
# start, stop, suspend, kill or remove. Afterwards the daemon must still answer and hold exactly
# what it held before: file descriptors, links, dnsmasq children, no instance, no VMM.
#
# CF_FUZZ_SEED and CF_FUZZ_CALLS choose the run (defaults: a fixed seed, 3000 calls as root).
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
FUZZ=$CF_BUILD_DIR/tests/fuzz/dbus-fuzz
[ -x "$FUZZ" ] || cf_fail "build first: $FUZZ missing"
SEED=${CF_FUZZ_SEED:-20261122}
CALLS=${CF_FUZZ_CALLS:-3000}

cf_build_guest
cf_start_polkit
cf_write_config "num_cvd_accounts=4" "max_instances_per_user=3"
cf_start_daemon
[ "$(cf_network_state)" = up ] || cf_fail "network not up"

fd_count() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
# (A pattern that does not match itself: grep's own command line is in /proc too.)
daemon_vmms() { grep -l -a -s -e "$CF_TMP/run/instance[s]/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3; }

LINKS=$(count_our_links)
# Instance 1 exists (a real guest, not started) so its object's methods are learnt and fuzzed.
cfctl -q start --no-start --number=1 --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" \
        --cmdline="console=ttyS0 quiet" --memory-mb=256 --cpus=1 --stop-timeout-sec=1 ||
        cf_fail "creating instance 1"
cfctl -q rm 1 || cf_fail "removing instance 1"
# The host probe runs in a worker (at start and on each Reload) with a pipe of its own: count
# descriptors only while it is idle.
probe_idle() {
        busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.cuttlefish.HostResources1.Manager DescribeHost | sed -e 's/^s "//' -e 's/"$//' -e 's/\\"/"/g' |
                jq -e '.probe.state != "running"' >/dev/null
}
cf_wait_for 60 probe_idle || cf_fail "host probe still running"
FDS=$(fd_count)
RSS=$(rss_kb)
cfctl -q start --no-start --number=1 --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" \
        --cmdline="console=ttyS0 quiet" --memory-mb=256 --cpus=1 --stop-timeout-sec=1 ||
        cf_fail "creating instance 1"
cf_info "daemon before: $FDS fds, $RSS kB RSS, $LINKS links"

cf_info "fuzzing as root: seed $SEED, $CALLS calls"
"$FUZZ" --seed="$SEED" --calls="$CALLS" --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" > "$CF_TMP/fuzz-root.log" 2>&1 ||
        { tail -n 5 "$CF_TMP/fuzz-root.log" >&2; cf_fail "D-Bus fuzzing as root (seed $SEED)"; }
tail -n 1 "$CF_TMP/fuzz-root.log"
pid_alive "$DAEMON_PID" || cf_fail "daemon died while fuzzed (seed $SEED)"

cf_info "fuzzing as nobody: seed $((SEED + 1)), $((CALLS / 4)) calls"
as_nobody "$FUZZ" --seed="$((SEED + 1))" --calls="$((CALLS / 4))" --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" > "$CF_TMP/fuzz-nobody.log" 2>&1 ||
        { tail -n 5 "$CF_TMP/fuzz-nobody.log" >&2; cf_fail "D-Bus fuzzing as nobody"; }
tail -n 1 "$CF_TMP/fuzz-nobody.log"
pid_alive "$DAEMON_PID" || cf_fail "daemon died while fuzzed as nobody"

# Back to a known state: no instances, the network up.
"$FUZZ" --calls=0 --cleanup > "$CF_TMP/fuzz-cleanup.log" 2>&1 || cf_fail "cleanup: $(cat "$CF_TMP/fuzz-cleanup.log")"
cfctl -q network up || cf_fail "network up after fuzzing"
no_instances() { [ "$("$CFCTL" --json=short list | jq length)" = 0 ]; }
cf_wait_for 30 no_instances || cf_fail "instances left: $("$CFCTL" --json=short list)"
no_vmms() { [ -z "$(daemon_vmms)" ]; }
cf_wait_for 15 no_vmms || cf_fail "VMMs left running: $(daemon_vmms)"

assert_eq "$(cf_network_state)" up "network state after fuzzing"
# (Taps that removed instances gave back are recreated by the next reconcile.)
links_back() { [ "$(count_our_links)" = "$LINKS" ]; }
cf_wait_for 10 links_back || assert_eq "$(count_our_links)" "$LINKS" "links after fuzzing"
assert_eq "$(our_dnsmasq_pids | wc -l)" 2 "dnsmasq children after fuzzing"
# Descriptors settle once the last reply and signal are flushed.
same_fds() { probe_idle && [ "$(fd_count)" = "$FDS" ]; }
cf_wait_for 60 same_fds || cf_fail "daemon holds $(fd_count) fds after fuzzing, $FDS before: $(ls -l /proc/$DAEMON_PID/fd)"
cf_info "daemon after: $(fd_count) fds, $(rss_kb) kB RSS"
# Memory: the heap may keep a little, never grow with the calls (4 MB bound over 3,750 calls).
# (Not under ASan: its quarantine keeps freed memory; LeakSanitizer checks leaks there instead.)
if ! ldd "$DAEMON" | grep -q libasan; then
        (( $(rss_kb) - RSS < 4096 )) || cf_fail "daemon RSS grew from $RSS kB to $(rss_kb) kB"
fi
"$CFCTL" --json=short network status | jq -e '.slots | length == 4' >/dev/null || cf_fail "network status after fuzzing"
echo "PASS"
