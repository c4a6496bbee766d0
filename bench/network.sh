#!/usr/bin/env bash
# Benchmark: `cfctl network up` and `down` for N = 10, 100, 250 slots, each run in a fresh
# network namespace, median of RUNS runs. Prints a Markdown table for bench/RESULTS.md.
# Usage: bench/network.sh [RUNS] [N...]   (as root; ./dev.sh bench does the build first)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
shift || true
SIZES=("${@:-10 100 250}")
# shellcheck disable=SC2206
SIZES=(${SIZES[*]})

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A REF_UP=([1]=342 [10]=1385 [100]=12323)
declare -A REF_DOWN=([1]=365 [10]=1786 [100]=16618)

echo "| slots N | taps | up (median) | down (median) | reference start | reference stop | daemon RSS |"
echo "|---|---|---|---|---|---|---|"
for n in "${SIZES[@]}"; do
        out=$(mktemp)
        for (( i = 0; i < RUNS; i++ )); do
                bash bench/network-one.sh "$n" | grep -E "^$n " >> "$out"
        done
        up=$(awk '{print $3}' "$out" | median)
        down=$(awk '{print $2}' "$out" | median)
        rss=$(awk '{print $4}' "$out" | median)
        echo "| $n | $(( 4 * n )) | ${up} ms | ${down} ms | ${REF_UP[$n]:-n/a}${REF_UP[$n]:+ ms} | ${REF_DOWN[$n]:-n/a}${REF_DOWN[$n]:+ ms} | $(( rss / 1024 )) MiB |"
        echo "raw N=$n (down up rss links): $(awk '{printf "%s/%s/%s ", $2, $3, $4}' "$out")" >&2
        rm -f "$out"
done
