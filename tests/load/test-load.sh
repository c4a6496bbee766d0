#!/usr/bin/env bash
# Load: 100 CreateInstance calls in flight at once from 4 users (25 each; QEMU started paused,
# -S), all tracked; ListInstances 10,000 times with the 100 instances live, sequentially and
# 16 in flight; `cfctl monitor` keeps up with every signal; 100 RemoveInstance at once; afterwards
# nothing of any instance is left. Real dnsmasq, polkitd and QEMU in a throwaway namespace.
#
# Prints "key value" lines (microseconds, KiB) that bench/load.sh collects; no figure is asserted
# here (bench/RESULTS.md records them). CF_LOAD_N changes the 100.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
N=${CF_LOAD_N:-100}
PER=$(( N / 4 ))
LAT=$CF_BUILD_DIR/bench/list-latency
[ -x "$LAT" ] || cf_fail "build first: $LAT missing"
cf_build_guest
cf_start_polkit
USERS=(root nobody daemon bin)
cf_write_config "num_cvd_accounts=$N" "max_instances_per_user=$PER" "dhcp_ping=no"
cf_start_daemon
[ "$(cf_network_state)" = up ] || cf_fail "network not up"
LINKS=$(count_our_links)
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
vmms() { cf_vmm_pids; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {k=int((p*NR+99)/100); if (k<1) k=1; print a[k]}'; }
cf_allow_create "${USERS[@]:1}"
RSS0=$(rss_kb)

# The monitor subscribes first; it must see every instance appear and go.
"$CFCTL" monitor > "$CF_TMP/monitor.out" 2>&1 &
MON=$!
CF_PIDS+=("$MON")
cf_wait_for 10 grep -q . "$CF_TMP/monitor.out" || true

cf_info "creating $N instances at once from ${#USERS[@]} users"
t0=$(date +%s%N)
pids=()
for u in "${USERS[@]}"; do
        setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups \
                "$LAT" pcreate "$PER" "$GUEST_KERNEL" -S > "$CF_TMP/create-$u.us" 2> "$CF_TMP/create-$u.err" &
        pids+=($!)
done
for p in "${pids[@]}"; do
        wait "$p" || cf_fail "CreateInstance batch failed: $(cat "$CF_TMP"/create-*.err)"
done
CREATE_WALL_US=$(( ($(date +%s%N) - t0) / 1000 ))
cat "$CF_TMP"/create-*.us > "$CF_TMP/create.us"
assert_eq "$(wc -l < "$CF_TMP/create.us")" "$N" "CreateInstance replies"

"$CFCTL" --json=short list > "$CF_TMP/list.json"
assert_eq "$(jq length "$CF_TMP/list.json")" "$N" "instances tracked"
for u in "${USERS[@]}"; do
        assert_eq "$(jq --arg uid "$(id -u "$u")" '[.[] | select(.owner == ($uid | tonumber))] | length' "$CF_TMP/list.json")" "$PER" "instances of $u"
done
assert_eq "$(jq '[.[].number] | unique | length' "$CF_TMP/list.json")" "$N" "distinct slots"
for p in $(jq -r '.[].pid' "$CF_TMP/list.json"); do
        pid_alive "$p" || cf_fail "VMM $p of a tracked instance is not running"
done
assert_eq "$(vmms | wc -l)" "$N" "VMM processes"
all_running() { "$CFCTL" --json=short list | jq -e "length == $N and all(.state == \"running\")" >/dev/null; }
cf_wait_for 180 all_running || cf_fail "not all running: $("$CFCTL" --json=short list | jq -c '[.[].state] | group_by(.) | map({(.[0]): length}) | add')"
RSSN=$(rss_kb)

cf_info "ListInstances 10,000 times with $N instances live"
"$LAT" list 10000 > "$CF_TMP/list.us" 2>"$CF_TMP/list.err" || cf_fail "ListInstances: $(cat "$CF_TMP/list.err")"
"$LAT" plist 10000 16 > "$CF_TMP/plist.us" 2>"$CF_TMP/plist.err" || cf_fail "ListInstances (16 in flight): $(cat "$CF_TMP/plist.err")"
assert_eq "$(wc -l < "$CF_TMP/list.us")" 10000 "sequential ListInstances replies"
assert_eq "$(wc -l < "$CF_TMP/plist.us")" 10000 "pipelined ListInstances replies"

cf_info "removing all $N at once"
t0=$(date +%s%N)
pids=()
for u in "${USERS[@]}"; do
        setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$LAT" premove > "$CF_TMP/remove-$u.us" 2> "$CF_TMP/remove-$u.err" &
        pids+=($!)
done
for p in "${pids[@]}"; do
        wait "$p" || cf_fail "RemoveInstance batch failed: $(cat "$CF_TMP"/remove-*.err)"
done
REMOVE_WALL_US=$(( ($(date +%s%N) - t0) / 1000 ))
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances after removal"
no_vmms() { [ -z "$(vmms)" ]; }
cf_wait_for 30 no_vmms || cf_fail "VMMs left: $(vmms | wc -l)"
links_back() { [ "$(count_our_links)" = "$LINKS" ]; }
cf_wait_for 20 links_back || assert_eq "$(count_our_links)" "$LINKS" "links after removal"
# The 300 taps given back were renamed aside and are deleted off the event loop, by a child.
recycled_gone() { [ -z "$(ip -o link show group 3313)" ]; }
cf_wait_for 30 recycled_gone || cf_fail "$(ip -o link show group 3313 | wc -l) taps given back were never deleted"
pid_alive "$DAEMON_PID" || cf_fail "daemon died"

# The monitor saw every instance come and go (it prints one line per signal).
monitor_caught_up() { [ "$(grep -c 'InstanceRemoved' "$CF_TMP/monitor.out")" -ge "$N" ]; }
cf_wait_for 30 monitor_caught_up || cf_fail "monitor saw $(grep -c InstanceRemoved "$CF_TMP/monitor.out") of $N removals"
assert_eq "$(grep -c 'InstanceNew' "$CF_TMP/monitor.out")" "$N" "InstanceNew seen by the monitor"

echo "instances $N"
echo "create_wall_us $CREATE_WALL_US"
echo "create_batch_wall_us $(cat "$CF_TMP"/create-*.err | awk '/^wall_us/ {print $2}' | sort -n | tail -n 1)"
echo "create_median_us $(pct 50 < "$CF_TMP/create.us")"
echo "create_p99_us $(pct 99 < "$CF_TMP/create.us")"
echo "list_seq_median_us $(pct 50 < "$CF_TMP/list.us")"
echo "list_seq_per_s $(awk '/^wall_us/ {print int(10000 * 1000000 / $2)}' "$CF_TMP/list.err")"
echo "list_pipelined_per_s $(awk '/^wall_us/ {print int(10000 * 1000000 / $2)}' "$CF_TMP/plist.err")"
echo "remove_wall_us $REMOVE_WALL_US"
echo "rss_0_kb $RSS0"
echo "rss_n_kb $RSSN"
echo "rss_after_kb $(rss_kb)"
echo "monitor_lines $(wc -l < "$CF_TMP/monitor.out")"
echo "PASS"
