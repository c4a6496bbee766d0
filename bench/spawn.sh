#!/usr/bin/env bash
# Benchmark: how soon a device is "running", against QEMU's own start, in one run.
#   floor: bare QEMU (no daemon, no sandbox), the daemon's argv shape with -S, from before its
#          taps are opened to its QMP greeting, and to its answer to qmp_capabilities (QEMU's
#          monitor thread greets at once; commands wait for its main loop, after machine init):
#          15 one after another, then 20 at once.
#   ours:  CreateInstance (same kernel, 1 vCPU, 128 MiB, -S) to State=running seen through
#          PropertiesChanged, and to the reply: 15 one after another (each removed before the
#          next), then 20 in flight at once until all are running. The sequential rounds of
#          the two alternate, so both see the machine in the same mood. Then 15 more of ours
#          back to back (each create right after the remove before it).
# In a fresh network namespace with a private bus and the real dnsmasq; runtime dir on tmpfs as
# /run is on a real host. Prints "key value" lines (microseconds) and the ratios;
# bench/RESULTS.md records them.
# Usage: bench/spawn.sh [SEQ [PAR]]   (as root, after a build; one run per call)
source "$(dirname "$0")/../tests/helpers/lib.sh"
cf_setup "$@"
SEQ=${1:-15}
PAR=${2:-20}
TOOL=$CF_BUILD_DIR/bench/spawn-latency
[ -x "$TOOL" ] || cf_fail "build first: $TOOL missing"
KERNEL=$("$CF_SRC_DIR/tests/guest/kernel.sh") || cf_skip "no kernel image installed"
command -v qemu-system-x86_64 >/dev/null || cf_skip "qemu-system-x86_64 missing"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

mkdir -p "$CF_TMP/run"
mount -t tmpfs -o mode=0755 tmpfs "$CF_TMP/run"
cf_write_config "num_cvd_accounts=$PAR"
cf_start_daemon
[ "$(cf_network_state)" = up ] || cf_fail "network not up"

# Alternately, one round at a time, so that both see the machine in the same mood.
for _ in $(seq "$SEQ"); do
        "$TOOL" floor 1 0 "$KERNEL" -S >> "$CF_TMP/floor.out" || cf_fail "floor run failed"
        "$TOOL" ours 1 0 "$KERNEL" -S >> "$CF_TMP/ours.out" || cf_fail "our run failed"
done
# Back to back: each CreateInstance right after the RemoveInstance of the one before (a CI job
# tearing a device down and starting the next), the slot's taps just given back.
"$TOOL" ours "$SEQ" 0 "$KERNEL" -S > "$CF_TMP/b2b.out" || cf_fail "back-to-back run failed"
"$TOOL" floor 0 "$PAR" "$KERNEL" -S >> "$CF_TMP/floor.out" || cf_fail "floor run failed"
"$TOOL" ours 0 "$PAR" "$KERNEL" -S >> "$CF_TMP/ours.out" || cf_fail "our run failed"
pid_alive "$DAEMON_PID" || cf_fail "daemon died"

col() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
FLOOR_SEQ=$(col floor_seq_us "$CF_TMP/floor.out" | median)
FLOOR_SEQ_GREETING=$(col floor_seq_greeting_us "$CF_TMP/floor.out" | median)
FLOOR_PAR=$(col floor_par_us "$CF_TMP/floor.out")
FLOOR_PAR_GREETING=$(col floor_par_greeting_us "$CF_TMP/floor.out")
OURS_REPLY=$(col ours_seq_reply_us "$CF_TMP/ours.out" | median)
OURS_SEQ=$(col ours_seq_running_us "$CF_TMP/ours.out" | median)
OURS_PAR_REPLY=$(col ours_par_reply_us "$CF_TMP/ours.out")
OURS_PAR=$(col ours_par_running_us "$CF_TMP/ours.out")
echo "floor_seq_greeting_median_us $FLOOR_SEQ_GREETING"
echo "floor_seq_median_us $FLOOR_SEQ"
echo "ours_seq_reply_median_us $OURS_REPLY"
echo "ours_seq_running_median_us $OURS_SEQ"
echo "ours_b2b_reply_median_us $(col ours_seq_reply_us "$CF_TMP/b2b.out" | median)"
echo "ours_b2b_running_median_us $(col ours_seq_running_us "$CF_TMP/b2b.out" | median)"
echo "floor_par${PAR}_greeting_us $FLOOR_PAR_GREETING"
echo "floor_par${PAR}_us $FLOOR_PAR"
echo "ours_par${PAR}_last_reply_us $OURS_PAR_REPLY"
echo "ours_par${PAR}_all_running_us $OURS_PAR"
echo "ratio_seq $(ratio "$OURS_SEQ" "$FLOOR_SEQ")"
echo "ratio_par $(ratio "$OURS_PAR" "$FLOOR_PAR")"
echo "ratio_seq_to_greeting $(ratio "$OURS_SEQ" "$FLOOR_SEQ_GREETING")"
echo "ratio_par_to_greeting $(ratio "$OURS_PAR" "$FLOOR_PAR_GREETING")"
echo "floor_seq_all_us $(col floor_seq_us "$CF_TMP/floor.out" | tr '\n' ' ')"
echo "ours_seq_running_all_us $(col ours_seq_running_us "$CF_TMP/ours.out" | tr '\n' ' ')"
