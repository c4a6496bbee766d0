#!/usr/bin/env bash
# Long fuzzing runs: every libFuzzer target (tests/fuzz/fuzz-*.c) built with clang, ASan and UBSan,
# each for SECONDS, starting from its seed corpus. The corpus grows in bench/out/fuzz/<target>/;
# a crash leaves its input in bench/out/fuzz/crashes/ (copy it into tests/fuzz/<target>/ once
# fixed: it then replays in every 'dev.sh test'). One summary line per target goes to stdout and
# to bench/out/fuzz/summary.txt, for doc/RELIABILITY.md.
#
#   bench/fuzz.sh [SECONDS] [TARGET...]     (default 600 s, all targets; './dev.sh fuzz' wraps it)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
SECONDS_PER_TARGET=${1:-600}
shift || true
BUILD=${BUILD_FUZZ_DIR:-$SRC/build-fuzz}
OUT=$SRC/bench/out/fuzz

command -v clang >/dev/null || { echo "clang is needed: apt-get install clang libclang-rt-dev" >&2; exit 1; }
if [ ! -f "$BUILD/build.ninja" ]; then
        CC=clang meson setup "$BUILD" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$BUILD" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
        for f in tests/fuzz/fuzz-*.c; do
                f=${f##*/}
                # fuzz-main.c is the corpus runner for builds without libFuzzer, not a target.
                [ "$f" = fuzz-main.c ] || targets+=("${f%.c}")
        done
fi
mkdir -p "$OUT/crashes"
for t in "${targets[@]}"; do
        mkdir -p "$OUT/$t"
        cp -n "tests/fuzz/$t"/* "$OUT/$t"/ 2>/dev/null || true
        dict=()
        [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
        log=$OUT/$t.log
        echo "==> $t for ${SECONDS_PER_TARGET}s (log: $log)" >&2
        rc=0
        "$BUILD/tests/fuzz/$t" "$OUT/$t" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" \
                -artifact_prefix="$OUT/crashes/$t-" -print_final_stats=1 -close_fd_mask=3 >"$log" 2>&1 || rc=$?
        runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        crashes=$(find "$OUT/crashes" -name "$t-*" | wc -l)
        line="$(date -u +%F) $t: ${SECONDS_PER_TARGET}s, ${runs:-?} runs, corpus $(ls "$OUT/$t" | wc -l) files, $crashes crash inputs, exit $rc"
        echo "$line" | tee -a "$OUT/summary.txt"
done
