#!/usr/bin/env bash
# Two users each start a real QEMU guest (TCG) through the daemon, with real polkitd deciding
# and real dnsmasq handing out leases. Lifecycle: running/booted, leases seen by the daemon and in
# the guests' consoles, suspend/resume, stop, restart, a guest powering itself off, kill -9 of a
# VMM with restart=on-failure, and removal. Users cannot touch each other's instances.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_start_polkit
cf_build_guest

A=nobody
B=daemon
# Test rule: A and B may create instances (as members of cvdnetwork would with the shipped rule).
cat > "$POLKIT_TEST_RULES" <<JS
polkit.addRule(function(action, subject) {
        if (action.id == "org.cuttlefish.hostresources.create-instance" &&
            (subject.user == "$A" || subject.user == "$B"))
                return polkit.Result.YES;
});
JS
cf_write_config "num_cvd_accounts=4" "dhcp_ping=no"
cf_start_daemon
cf_wait_for 10 bash -c "! setpriv --reuid=$A --regid=$(id -g $A) --clear-groups '$CFCTL' --no-ask-password start --kernel=/nonexistent 2>&1 | grep -q 'needs authentication'" ||
        cf_fail "polkit did not pick up the test rule"

# Start both guests in parallel.
cf_start_guest "$A" > "$CF_TMP/nA" &
PA=$!
cf_start_guest "$B" --restart=on-failure > "$CF_TMP/nB" &
PB=$!
wait $PA || cf_fail "guest of $A did not boot: $(cat "$CF_TMP/cfctl-start.log")"
wait $PB || cf_fail "guest of $B did not boot: $(cat "$CF_TMP/cfctl-start.log")"
NA=$(cat "$CF_TMP/nA")
NB=$(cat "$CF_TMP/nB")
cf_info "guests: $A has instance $NA, $B has instance $NB"
[ "$NA" -ge 1 ] && [ "$NB" -ge 1 ] && [ "$NA" != "$NB" ] || cf_fail "instance numbers '$NA' '$NB'"

for n in "$NA" "$NB"; do
        assert_eq "$(instance_field "$n" state)" running "state of $n"
        assert_eq "$(instance_field "$n" booted)" true "booted of $n"
        assert_eq "$(instance_field "$n" cid)" $(( n + 2 )) "vsock CID of $n"
        assert_eq "$(instance_field "$n" 'taps[0]')" "$(printf 'cvd-etap-%02d' "$n")" "first tap of $n"
done
assert_eq "$(instance_field "$NA" owner)" "$(id -u $A)" "owner of $NA"

# Each guest has its lease from the daemon's dnsmasq: in DescribeNetwork and on its console.
for n in "$NA" "$NB"; do
        ip=$(status_json | jq -r ".slots[] | select(.number == $n) | .taps[] | select(.kind == \"ethernet\") | .lease.ip // empty")
        [[ "$ip" == 192.168.98.* ]] || cf_fail "no lease for instance $n in DescribeNetwork"
        grep -aq "LEASE $ip" "$CF_TMP/run/instances/$n/console.log" || cf_fail "console of $n lacks 'LEASE $ip'"
done

# B may not touch A's instance; A may not read B's console.
for verb in stop kill rm suspend; do
        set +e
        OUT=$(as_user "$B" "$CFCTL" "$verb" "$NA" 2>&1)
        RC=$?
        set -e
        assert_eq "$RC" 1 "exit code of $B's '$verb $NA'"
        [[ "$OUT" == *"AccessDenied"* || "$OUT" == *"no authentication agent answered"* || "$OUT" == *"Not authorized"* ]] ||
                cf_fail "$B's '$verb $NA' was not refused: $OUT"
done
assert_eq "$(instance_field "$NA" state)" running "A's instance after B's attempts"
! as_user "$A" "$CFCTL" logs "$NB" >/dev/null 2>&1 || cf_fail "$A could read $B's console"
as_user "$B" "$CFCTL" logs "$NB" | grep -aq CF-BOOTED || cf_fail "$B cannot read its own console"

# cfctl monitor sees every change (PropertiesChanged of instances, InstanceNew/InstanceRemoved).
"$CFCTL" --json=short monitor </dev/null >"$CF_TMP/monitor.log" 2>"$CF_TMP/monitor.err" &
CF_PIDS+=($!)
# It says so once its match is in place: only then can it not miss what follows.
cf_wait_for 5 grep -q "^Monitoring" "$CF_TMP/monitor.err" || cf_fail "cfctl monitor did not start"
# logs -f follows the console (as its owner) until stopped.
set +e
timeout 3 setpriv --reuid="$A" --regid="$(id -g "$A")" --clear-groups "$CFCTL" logs -f "$NA" >"$CF_TMP/follow.log" 2>&1
set -e
grep -aq CF-BOOTED "$CF_TMP/follow.log" || cf_fail "logs -f: $(head -c 300 "$CF_TMP/follow.log")"

# Suspend / resume (owner).
as_user "$A" "$CFCTL" suspend "$NA"
cf_wait_for 10 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $NA) | .state')\" = suspended ]" ||
        cf_fail "not suspended"
as_user "$A" "$CFCTL" resume "$NA"
cf_wait_for 10 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $NA) | .state')\" = running ]" ||
        cf_fail "not resumed"

seen() { jq -c "select(.signal == \"PropertiesChanged\" and .path == \"/org/cuttlefish/HostResources1/instance/$NA\") | .changed.State" "$CF_TMP/monitor.log" 2>/dev/null | grep -q "$1"; }
cf_wait_for 5 seen suspended || cf_fail "monitor did not show State=suspended: $(head -c 500 "$CF_TMP/monitor.log")"
cf_wait_for 5 seen running || cf_fail "monitor did not show State=running"

# kill -9 of B's VMM from outside: failed/crashed, then restart=on-failure brings it back.
PIDB=$(instance_field "$NB" pid)
kill -9 "$PIDB"
cf_wait_for 10 grep -q "Instance $NB (uid $(id -u $B)): failed (crashed)" "$CF_TMP/daemon.log" || cf_fail "no failed/crashed"
back() { [ "$(instance_field "$NB" state)" = running ] && [ "$(instance_field "$NB" pid)" != "$PIDB" ] &&
         [ "$(instance_field "$NB" restart_count)" = 1 ]; }
cf_wait_for 20 back || cf_fail "restart=on-failure did not bring $NB back: $(instance_json "$NB")"

# A second crash within the minute waits 1 s before restarting; Stop() in that window cancels it.
PIDB=$(instance_field "$NB" pid)
kill -9 "$PIDB"
cf_wait_for 10 grep -q "Instance $NB (uid $(id -u $B)): restarting in 1000 ms" "$CF_TMP/daemon.log" ||
        cf_fail "no second, longer back-off"
as_user "$B" "$CFCTL" stop "$NB"
assert_eq "$(instance_field "$NB" state)/$(instance_field "$NB" reason)" stopped/requested "state after Stop during back-off"
restarted_again() { [ "$(instance_field "$NB" pid)" != 0 ]; }
! cf_wait_for 3 restarted_again || cf_fail "the pending restart ran after Stop(): $(instance_json "$NB")"

# Stop (owner): stopped/requested; Start() again works; Restart() keeps it running.
as_user "$A" "$CFCTL" stop "$NA"
cf_wait_for 15 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $NA) | .state + \"/\" + .reason')\" = stopped/requested ]" ||
        cf_fail "stop did not end stopped/requested: $(instance_json "$NA")"
as_user "$A" "$CFCTL" restart "$NA"
cf_wait_for 60 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $NA) | .booted')\" = true ]" ||
        cf_fail "restart did not boot again: $(instance_json "$NA")"

# A guest that powers itself off ends stopped/exited.
# (No --wait: it may power off before cfctl sees it booted; that is its point.)
NC=$(as_user "$A" "$CFCTL" start --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" --memory-mb=256 --cpus=1 \
        --cmdline="console=ttyS0 quiet cf.poweroff=1" --boot-marker=CF-BOOTED 2>>"$CF_TMP/cfctl-start.log" | tail -n 1)
[ -n "$NC" ] || cf_fail "third guest did not start: $(tail -n 3 "$CF_TMP/cfctl-start.log")"
cf_wait_for 60 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[] | select(.number == $NC) | .state + \"/\" + .reason')\" = stopped/exited ]" ||
        cf_fail "self-powered-off guest: $(instance_json "$NC")"

# Remove everything; the slots' taps go back to the pool (owner cleared, group restored).
PIDS=$("$CFCTL" --json=short list | jq -r '.[] | select(.pid > 0) | .pid')
for n in "$NA" "$NB" "$NC"; do cfctl rm "$n"; done
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances after rm"
cf_wait_for 5 bash -c "jq -r 'select(.signal == \"InstanceRemoved\") | .number' '$CF_TMP/monitor.log' | grep -qx '$NC'" ||
        cf_fail "monitor did not show InstanceRemoved for $NC"
jq -r 'select(.signal == "InstanceNew") | .number' "$CF_TMP/monitor.log" | grep -qx "$NC" || cf_fail "no InstanceNew for $NC"
for n in "$NA" "$NB" "$NC"; do
        t=$(printf 'cvd-etap-%02d' "$n")
        # Given back: deleted and created afresh by the next reconcile, with no owner.
        pooled() { ip -d link show "$1" 2>/dev/null | grep -q 'tun type tap' && ! ip -d link show "$1" | grep -q "user $A\|user $B"; }
        cf_wait_for 5 pooled "$t" || cf_fail "$t still belongs to a user after rm: $(ip -d link show "$t" | grep tun)"
done
for p in $PIDS; do ! pid_alive "$p" || cf_fail "VMM $p still runs after rm"; done
echo "PASS"
