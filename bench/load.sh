#!/usr/bin/env bash
# Load figures for bench/RESULTS.md: runs tests/load/test-load.sh RUNS times (default 5) and prints
# the median of each figure it reports (100 parallel CreateInstance from 4 users, ListInstances
# rates at 100 instances, RSS). As root, after a build.
#   bench/load.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BUILD=${BUILD_DIR:-$PWD/build}
OUT=$(mktemp -d /var/tmp/cfhr-load.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq "$RUNS"); do
        echo "==> run $r of $RUNS" >&2
        CF_BUILD_DIR=$BUILD CF_SRC_DIR=$PWD bash tests/load/test-load.sh | grep -E '^[a-z_0-9]+ [0-9]+$' > "$OUT/run$r"
done
echo "# $(date -u +%F), $(nproc) cores, median of $RUNS runs"
cut -d' ' -f1 "$OUT/run1" | while read -r key; do
        printf '%s %s\n' "$key" "$(cat "$OUT"/run* | awk -v k="$key" '$1 == k {print $2}' | sort -n |
                awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
