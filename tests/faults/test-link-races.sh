#!/usr/bin/env bash
# Three faults around the links: a foreign process squatting on a slot's tap (the slot is skipped,
# named when asked for, and usable once freed; a stopped instance whose tap is taken fails to start
# with the reason); the configuration file changed under a running daemon (a reload keeps the slot
# a running instance holds, and stopping the daemon after the file changed again still removes
# every link and rule it made); and links deleted over and over while reconciles and
# 'cfctl network up' run (the host ends up exactly as planned).
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
TAP_OPEN=$CF_BUILD_DIR/tests/helpers/tap-open
[ -x "$TAP_OPEN" ] || cf_fail "build first: $TAP_OPEN missing"
cf_build_guest
cf_write_config "num_cvd_accounts=4" "dhcp_ping=no"
cf_start_daemon
LINKS=$(count_our_links)
SLOT_BUSY=org.cuttlefish.HostResources1.Error.SlotBusy
MGR=(busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1
     org.cuttlefish.HostResources1.Manager)
start_paused() {
        "$CFCTL" start --kernel="$GUEST_KERNEL" --memory-mb=128 --cpus=1 --extra-arg=-S --stop-timeout-sec=1 "$@"
}

cf_info "a foreign process holds cvd-etap-01"
"$TAP_OPEN" cvd-etap-01 --hold > "$CF_TMP/holder.out" &
HOLDER=$!
CF_PIDS+=("$HOLDER")
cf_wait_for 5 grep -q held "$CF_TMP/holder.out" || cf_fail "tap-open did not hold the tap: $(cat "$CF_TMP/holder.out")"
N=$(start_paused) || cf_fail "start with slot 1 squatted"
assert_eq "$N" 2 "slot chosen while slot 1's tap is held"
expect_error "$SLOT_BUSY" "cvd-etap-01 is held by another process" \
        "${MGR[@]}" CreateInstance 'a{sv}' 3 number u 1 kernel s "$GUEST_KERNEL" start b false
kill "$HOLDER"; cf_wait_gone "$HOLDER" 50 || cf_fail "holder did not exit"
N1=$(start_paused --number=1) || cf_fail "slot 1 once the holder is gone"
assert_eq "$N1" 1 "slot 1 after the holder exited"

cf_info "a stopped instance's tap taken by someone else: Start fails and says why"
"$CFCTL" stop "$N1"
stopped() { [ "$(instance_field "$1" state)" = stopped ]; }
cf_wait_for 20 stopped "$N1" || cf_fail "stop: $(instance_json "$N1")"
"$TAP_OPEN" cvd-wtap-01 --hold > "$CF_TMP/holder2.out" &
HOLDER=$!
CF_PIDS+=("$HOLDER")
cf_wait_for 5 grep -q held "$CF_TMP/holder2.out" || cf_fail "tap-open did not hold cvd-wtap-01"
set +e
OUT=$(busctl --system call org.cuttlefish.HostResources1 "/org/cuttlefish/HostResources1/instance/$N1" \
        org.cuttlefish.HostResources1.Instance Start 2>&1)
set -e
[[ "$OUT" == *"cvd-wtap-01: held by another process"* ]] || cf_fail "Start with a squatted tap: $OUT"
assert_eq "$(instance_field "$N1" state)/$(instance_field "$N1" reason)" failed/spawn-failed "state after that Start"
kill "$HOLDER"; cf_wait_gone "$HOLDER" 50
"$CFCTL" rm "$N1"
cf_assert_consistent "$LINKS"

cf_info "the configuration changes under the daemon"
# Instance 2 runs; the file now asks for one slot, and is reloaded: slot 2 stays while held.
cf_write_config "num_cvd_accounts=1" "dhcp_ping=no"
"$CFCTL" reload || cf_fail "reload to one slot"
[ "$(instance_field "$N" state)" = running ] || cf_fail "reload disturbed instance $N: $(instance_json "$N")"
ip link show cvd-etap-02 >/dev/null 2>&1 || cf_fail "the held slot's tap went with the reload"
! ip link show cvd-etap-03 >/dev/null 2>&1 || cf_fail "slot 3 kept after the reload"
"$CFCTL" rm "$N"
gone2() { ! ip link show cvd-etap-02 >/dev/null 2>&1; }
cf_wait_for 10 gone2 || cf_fail "slot 2's taps kept after its instance was removed"
# Changed again, not reloaded: stopping the daemon removes what it made, not what the file says.
cf_write_config "num_cvd_accounts=7" "dhcp_ping=no"
cf_stop_daemon
assert_eq "$(count_our_links)" 0 "links after the daemon stopped"
! nft list table inet cuttlefish_host_resources >/dev/null 2>&1 || cf_fail "nft table left"
assert_eq "$(our_dnsmasq_pids | wc -l)" 0 "dnsmasq left"

cf_info "links deleted while reconciles and 'cfctl network up' run"
cf_write_config "num_cvd_accounts=4" "dhcp_ping=no"
cf_start_daemon
for k in $(seq 30); do
        s=$(( (k % 4) + 1 ))
        ip link delete "cvd-etap-0$s" 2>/dev/null || true
        ip link delete "cvd-mtap-0$s" 2>/dev/null || true
        (( k % 10 == 0 )) && { ip link delete cvd-wbr 2>/dev/null || true; }
        (( k % 3 == 0 )) && { "$CFCTL" -q network up >/dev/null 2>&1 & }
done
wait_network_up() { [ "$(cf_network_state)" = up ] && [ "$(count_our_links)" = "$LINKS" ]; }
cf_wait_for 30 wait_network_up || cf_fail "not back to $LINKS links: $(count_our_links), $(cf_network_state)"
cf_assert_consistent "$LINKS"
pid_alive "$DAEMON_PID" || cf_fail "daemon died"
echo "PASS"
