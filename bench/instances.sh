#!/usr/bin/env bash
# Benchmark: N instances (default 100) in a fresh network namespace with a private bus. As root,
# CreateInstance number=1..N one after another, each with the installed kernel and
# extra_args ['-S'] (QEMU starts paused: nothing boots); each round trip is "CreateInstance ->
# VMM exec'd", since the daemon replies once the exec has happened. Then ListInstances at N
# instances (2000 calls, once every VMM is "running": median, p99, p99.9, max), the daemon's VmRSS at 0 and at N instances,
# and RemoveInstance 1..N, with ListInstances from another connection meanwhile.
# Round trips come from build/bench/list-latency, one connection, no process start-up.
#
# Prints "key value" lines (microseconds, KiB); bench/RESULTS.md records them.
# Usage: bench/instances.sh [N]   (as root, after a build; one run per call)
source "$(dirname "$0")/../tests/helpers/lib.sh"
cf_setup "$@"
N=${1:-100}
LAT=$CF_BUILD_DIR/bench/list-latency
[ -x "$LAT" ] || cf_fail "build first: $LAT missing"
KERNEL=$("$CF_SRC_DIR/tests/guest/kernel.sh") || cf_skip "no kernel image installed"
command -v qemu-system-x86_64 >/dev/null || cf_skip "qemu-system-x86_64 missing"

# Percentiles by nearest rank over a column of numbers.
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {k=int((p*NR+99)/100); if (k<1) k=1; print a[k]}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }

# The runtime dir on a tmpfs, as /run is on a real host (state.json's fsync costs nothing there).
mkdir -p "$CF_TMP/run"
mount -t tmpfs -o mode=0755 tmpfs "$CF_TMP/run"
cf_write_config "num_cvd_accounts=$N"
cf_start_daemon
[ "$(cf_network_state)" = up ] || cf_fail "network not up"
RSS0=$(rss_kb)

"$LAT" create "$N" "$KERNEL" -S > "$CF_TMP/create.us" || cf_fail "CreateInstance failed"
[ "$(wc -l < "$CF_TMP/create.us")" = "$N" ] || cf_fail "not $N creates"
"$CFCTL" --json=short list > "$CF_TMP/list.json"
assert_eq "$(jq length "$CF_TMP/list.json")" "$N" "instances listed"
PIDS=$(jq -r '.[] | select(.pid > 0) | .pid' "$CF_TMP/list.json")
assert_eq "$(echo "$PIDS" | wc -w)" "$N" "VMMs with a pid"
for p in $PIDS; do
        pid_alive "$p" || cf_fail "VMM $p is not running"
done

# Steady state first: every VMM answered on QMP (state "running"; -S only pauses the CPUs).
all_running() { "$CFCTL" --json=short list | jq -e 'length > 0 and all(.state == "running")' >/dev/null; }
t0=$(date +%s%N)
cf_wait_for 120 all_running || cf_fail "not all instances running: $("$CFCTL" --json=short list | jq -c '[.[].state] | group_by(.) | map({(.[0]): length}) | add')"
SETTLE_MS=$(( ($(date +%s%N) - t0) / 1000000 ))

"$LAT" list 2000 > "$CF_TMP/list.us" || cf_fail "ListInstances failed"
# busctl's own cost, for comparison with a `busctl call` measurement: Peer.Ping on the daemon.
for _ in 1 2 3 4 5 6 7 8 9 10 11; do
        t0=$(date +%s%N)
        busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.cuttlefish.HostResources1.Manager ListInstances >/dev/null
        t1=$(date +%s%N)
        busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.freedesktop.DBus.Peer Ping >/dev/null
        t2=$(date +%s%N)
        echo "$(( (t1 - t0) / 1000 )) $(( (t2 - t1) / 1000 ))"
done > "$CF_TMP/busctl.us"
RSSN=$(rss_kb)

# ListInstances from a second connection while the removals run (each gives three taps back).
"$LAT" list 15000 > "$CF_TMP/list-during-remove.us" 2>/dev/null &
LIST_PID=$!
"$LAT" remove "$N" > "$CF_TMP/remove.us" || cf_fail "RemoveInstance failed"
wait "$LIST_PID" || cf_fail "ListInstances during the removals failed"
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances after removal"
for p in $PIDS; do
        cf_wait_gone "$p" 50 || cf_fail "VMM $p still runs after RemoveInstance"
done
pid_alive "$DAEMON_PID" || cf_fail "daemon died"

echo "instances $N"
echo "create_first_us $(head -n 1 "$CF_TMP/create.us")"
echo "create_median_us $(pct 50 < "$CF_TMP/create.us")"
echo "create_p99_us $(pct 99 < "$CF_TMP/create.us")"
echo "create_max_us $(pct 100 < "$CF_TMP/create.us")"
echo "create_median_rest_us $(tail -n +2 "$CF_TMP/create.us" | pct 50)"
echo "settle_after_last_create_ms $SETTLE_MS"
echo "list_median_us $(pct 50 < "$CF_TMP/list.us")"
echo "list_p99_us $(pct 99 < "$CF_TMP/list.us")"
echo "list_p999_us $(pct 99.9 < "$CF_TMP/list.us")"
echo "list_max_us $(pct 100 < "$CF_TMP/list.us")"
echo "busctl_list_median_us $(awk '{print $1}' "$CF_TMP/busctl.us" | pct 50)"
echo "busctl_ping_median_us $(awk '{print $2}' "$CF_TMP/busctl.us" | pct 50)"
echo "remove_median_us $(pct 50 < "$CF_TMP/remove.us")"
echo "list_during_remove_p99_us $(pct 99 < "$CF_TMP/list-during-remove.us")"
echo "list_during_remove_max_us $(pct 100 < "$CF_TMP/list-during-remove.us")"
echo "rss_0_kb $RSS0"
echo "rss_n_kb $RSSN"
echo "rss_after_remove_kb $(rss_kb)"
echo "create_all_us $(tr '\n' ' ' < "$CF_TMP/create.us")"
