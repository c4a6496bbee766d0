#!/usr/bin/env bash
# The daemon SIGKILLed at random moments while 20 CreateInstance calls are in flight (QEMU started
# paused), then started again, five times: afterwards every instance is running and tracked or
# cleanly failed, and the host holds exactly the VMMs, links, nft table, dnsmasq children and
# files that the daemon's state says. CF_FAULT_SEED picks the moments (printed, to replay a run).
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
LAT=$CF_BUILD_DIR/bench/list-latency
[ -x "$LAT" ] || cf_fail "build first: $LAT missing"
cf_build_guest
SEED=${CF_FAULT_SEED:-$(date +%s)}
RANDOM=$SEED
cf_info "seed $SEED"
cf_write_config "num_cvd_accounts=24" "dhcp_ping=no"
cf_start_daemon
LINKS=$(count_our_links)

for round in 1 2 3 4 5; do
        # Kill within the first 1.5 s: before, during and after the spawns.
        delay_ms=$(( RANDOM % 1500 ))
        "$LAT" pcreate 20 "$GUEST_KERNEL" -S > /dev/null 2> "$CF_TMP/pcreate.err" &
        CREATOR=$!
        t0=$(date +%s%N)
        until (( ($(date +%s%N) - t0) / 1000000 >= delay_ms )); do sleep 0.01; done
        kill -9 "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null || true
        wait "$CREATOR" 2>/dev/null || true
        cf_info "round $round: killed after $delay_ms ms with $(cf_vmm_pids | wc -l) VMMs running"
        cf_start_daemon
        # Re-adopted or failed: nothing may still be starting once the daemon settles.
        settled() { "$CFCTL" --json=short list | jq -e 'all(.[]; .state != "starting" and .state != "creating")' >/dev/null; }
        cf_wait_for 20 settled || cf_fail "round $round: instances still starting: $("$CFCTL" --json=short list)"
        cf_assert_consistent "$LINKS"
        "$CFCTL" --json=short list | jq -e 'all(.[]; .state == "running" or .state == "failed" or .state == "stopped")' >/dev/null ||
                cf_fail "round $round: an instance neither running nor failed: $("$CFCTL" --json=short list)"
        cf_info "round $round: $("$CFCTL" --json=short list | jq -c '[.[] | .state + "/" + .reason] | group_by(.) | map({(.[0]): length}) | add')"
        "$LAT" premove > /dev/null 2>&1 || cf_fail "round $round: removing the instances"
        cf_assert_consistent "$LINKS"
        assert_eq "$(cf_vmm_pids | wc -l)" 0 "round $round: VMMs after removal"
done
echo "PASS"
