#!/usr/bin/env bash
# Security between users and against the daemon acting as root on a user's behalf, with real
# polkitd and QEMU: another user's taps cannot be attached; another user's runtime dir and console
# cannot be read; extra_args that try to write where the user may not, or to keep root, fail in
# the VMM running as the user; a symlink planted in the user's runtime dir is never followed by the
# daemon; oversized strings and lists are LimitsExceeded; and the bus policy itself refuses what no
# polkit rule could allow (writing properties, unknown interfaces) before the daemon is asked.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
TAP_OPEN=$CF_BUILD_DIR/tests/helpers/tap-open
[ -x "$TAP_OPEN" ] || cf_fail "build first: $TAP_OPEN missing"
cf_start_polkit
cf_build_guest
A=nobody
B=daemon
cf_write_config "num_cvd_accounts=3" "dhcp_ping=no"
cf_start_daemon
cf_allow_create "$A" "$B"
MGR=(busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1
     org.cuttlefish.HostResources1.Manager)
ACCESS_DENIED=org.freedesktop.DBus.Error.AccessDenied
LIMITS=org.freedesktop.DBus.Error.LimitsExceeded

cf_info "A's guest (QEMU, CPUs paused) holds its slot"
NA=$(as_user "$A" "$CFCTL" start --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" --memory-mb=128 --cpus=1 \
        --extra-arg=-S --stop-timeout-sec=1) || cf_fail "A's start"
RUN_A=$CF_TMP/run/instances/$NA
TAP=$(instance_json "$NA" | jq -r '.taps[0]')
running() { [ "$(instance_field "$1" state)" = running ]; }
cf_wait_for 20 running "$NA" || cf_fail "A's guest not running: $(instance_json "$NA")"

cf_info "B cannot attach to A's tap $TAP, not even with cvdnetwork among its groups"
OUT=$(setpriv --reuid="$B" --regid="$(id -g "$B")" --groups="$(getent group cvdnetwork | cut -d: -f3)" "$TAP_OPEN" "$TAP" || true)
[[ "$OUT" == *"Operation not permitted"* ]] || cf_fail "B attached to A's tap: $OUT"
"$CFCTL" stop "$NA" || cf_fail "stop A's guest"
cf_wait_for 20 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $NA) | .state')\" = stopped ]" ||
        cf_fail "A's guest did not stop"
# Stopped, the slot is still A's: its taps too.
OUT=$(setpriv --reuid="$B" --regid="$(id -g "$B")" --groups="$(getent group cvdnetwork | cut -d: -f3)" "$TAP_OPEN" "$TAP" || true)
[[ "$OUT" == *"Operation not permitted"* ]] || cf_fail "B attached to stopped A's tap: $OUT"

cf_info "B cannot read A's runtime dir or console"
! as_user "$B" ls "$RUN_A" >/dev/null 2>&1 || cf_fail "B listed $RUN_A"
! as_user "$B" cat "$RUN_A/console.log" >/dev/null 2>&1 || cf_fail "B read A's console"
assert_eq "$(stat -c '%U %a' "$RUN_A")" "$A 700" "owner and mode of A's runtime dir"
expect_error "$ACCESS_DENIED" "" as_user "$B" busctl --system call org.cuttlefish.HostResources1 \
        "/org/cuttlefish/HostResources1/instance/$NA" org.cuttlefish.HostResources1.Instance Start

cf_info "a symlink A plants in its runtime dir is not followed by the daemon"
install -m 0600 /dev/null "$CF_TMP/decoy"
echo "root's secret" > "$CF_TMP/decoy"
as_user "$A" ln -sf "$CF_TMP/decoy" "$RUN_A/console.log.new"
as_user "$A" mv -f "$RUN_A/console.log.new" "$RUN_A/console.log"
set +e
OUT=$(as_user "$A" busctl --system call org.cuttlefish.HostResources1 "/org/cuttlefish/HostResources1/instance/$NA" \
        org.cuttlefish.HostResources1.Instance Start 2>&1)
set -e
assert_eq "$(stat -c '%U %a %s' "$CF_TMP/decoy")" "root 600 14" "the decoy after A's start"
assert_eq "$(cat "$CF_TMP/decoy")" "root's secret" "the decoy's content"
cf_info "start with a planted symlink: ${OUT:-started}"
cf_wait_for 20 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $NA) | .state')\" != starting ]" || true
"$CFCTL" rm "$NA" || cf_fail "rm A's instance"
[ -e "$CF_TMP/decoy" ] || cf_fail "removing A's runtime dir removed the symlink's target"
# Given back, the slot's taps are the pool's again: a member of cvdnetwork may attach (a
# launch_cvd run by hand), as before A took the slot.
pool_tap() { [ "$(setpriv --reuid="$B" --regid="$(id -g "$B")" --groups="$(getent group cvdnetwork | cut -d: -f3)" "$TAP_OPEN" "$TAP")" = ok ]; }
cf_wait_for 10 pool_tap || cf_fail "$TAP not back in the pool: $(setpriv --reuid="$B" --regid="$(id -g "$B")" --groups="$(getent group cvdnetwork | cut -d: -f3)" "$TAP_OPEN" "$TAP")"
! grep -q "Repaired drift: .*$TAP" "$CF_TMP/daemon.log" || cf_fail "giving the taps back was logged as drift"

cf_info "extra_args cannot make the VMM write where A may not, nor keep root"
mkdir -m 0700 "$CF_TMP/root-only"
for args in "-chardev file,id=pwn,path=$CF_TMP/root-only/pwned -serial chardev:pwn" "-runas root"; do
        extra=()
        for a in $args; do extra+=(--extra-arg="$a"); done
        N=$(as_user "$A" "$CFCTL" start --kernel="$GUEST_KERNEL" --memory-mb=128 --cpus=1 "${extra[@]}" 2>/dev/null || true)
        N=${N:-$("$CFCTL" --json=short list | jq -r '.[0].number // empty')}
        [ -n "$N" ] || cf_fail "no instance for extra_args '$args'"
        gone() { [ "$(instance_field "$N" state)" = failed ] && [ -z "$(cf_vmm_pids)" ]; }
        cf_wait_for 20 gone || cf_fail "extra_args '$args' did not fail the VMM: $(instance_json "$N")"
        "$CFCTL" rm "$N"
done
[ ! -e "$CF_TMP/root-only/pwned" ] || cf_fail "the VMM wrote into a root-only directory"
for p in $(cf_vmm_pids); do
        [ "$(stat -c %u "/proc/$p")" != 0 ] || cf_fail "a VMM runs as root: $p"
done

cf_info "oversized strings and lists: LimitsExceeded, naming the option"
LONG=$(head -c 5000 /dev/zero | tr '\0' x)
expect_error "$LIMITS" "Option 'cmdline': too long (5000 bytes)" \
        "${MGR[@]}" CreateInstance 'a{sv}' 3 kernel s /nonexistent start b false cmdline s "$LONG"
ARGS=()
for k in $(seq 40); do ARGS+=("arg$k"); done
expect_error "$LIMITS" "Option 'extra_args': 40 entries" \
        "${MGR[@]}" CreateInstance 'a{sv}' 3 kernel s /nonexistent start b false extra_args as 40 "${ARGS[@]}"
expect_error "$LIMITS" "Option 'disks'" \
        "${MGR[@]}" CreateInstance 'a{sv}' 2 start b false disks as 1 "/$LONG"
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances after oversized input"

cf_info "the bus policy refuses what no polkit rule could allow"
expect_error "$ACCESS_DENIED" "" as_user "$A" busctl --system call org.cuttlefish.HostResources1 \
        /org/cuttlefish/HostResources1 org.freedesktop.DBus.Properties Set ssv \
        org.cuttlefish.HostResources1.Manager Slots u 5
expect_error "$ACCESS_DENIED" "" as_user "$A" busctl --system call org.cuttlefish.HostResources1 \
        /org/cuttlefish/HostResources1 org.example.NotOurs Frob
# Reading stays open to everyone.
as_user "$A" busctl --system get-property org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager Slots >/dev/null || cf_fail "A cannot read a property"
pid_alive "$DAEMON_PID" || cf_fail "daemon died"
echo "PASS"
