#!/usr/bin/env bash
# One measurement in a fresh network namespace: the daemon starts with N slots, then
# `cfctl network down` and `cfctl network up` are timed (wall clock, whole command).
# Prints: N DOWN_MS UP_MS RSS_KB LINKS
source "$(dirname "$0")/../tests/helpers/lib.sh"
cf_setup "$@"
N=$1

pools=()
if (( N > 128 )); then
        pools=("mobile_ipv4_pools=192.168.97.0/24,192.168.93.0/24,192.168.90.0/24,192.168.91.0/24"
               "wifiap_ipv4_pools=192.168.94.0/24,192.168.95.0/24,192.168.88.0/24,192.168.89.0/24")
fi
cf_write_config "num_cvd_accounts=$N" "${pools[@]}"
CF_LOG_LEVEL=warning cf_start_daemon
[ "$(cf_network_state)" = up ] || cf_fail "network not up"

ms() { echo $(( ($2 - $1) / 1000000 )); }
t0=$(date +%s%N); "$CFCTL" -q network down; t1=$(date +%s%N)
[ "$(count_our_links)" = 0 ] || cf_fail "links left after down"
t2=$(date +%s%N); "$CFCTL" -q network up; t3=$(date +%s%N)
LINKS=$(count_our_links)
[ "$LINKS" = $(( 2 + 4 * N )) ] || cf_fail "wrong link count after up: $LINKS"
RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status")
echo "$N $(ms "$t0" "$t1") $(ms "$t2" "$t3") $RSS $LINKS"
