#!/usr/bin/env bash
# Teardown leaves nothing of ours: no link, address, nft table, dnsmasq or runtime file, whatever
# N was when things were created (the reference leaks slot 3 when started with 3 and stopped
# with 2). Both through TeardownNetwork() and through SIGTERM.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

assert_clean() {
        assert_eq "$(count_our_links)" 0 "links left ($1)"
        assert_eq "$(ip -o link | grep -c cvd- || true)" 0 "cvd-* links left ($1)"
        assert_eq "$(nft list tables | grep -c cuttlefish || true)" 0 "nft tables left ($1)"
        assert_eq "$(our_dnsmasq_pids | wc -l)" 0 "dnsmasq left ($1)"
        assert_eq "$(find "$CF_TMP/run" -type f ! -name daemon.lock 2>/dev/null | wc -l)" 0 \
                "runtime files left ($1): $(ls "$CF_TMP/run" 2>/dev/null)"
}

cf_write_config "num_cvd_accounts=3"
cf_start_daemon
cf_write_config "num_cvd_accounts=2"
cfctl -q reload
cfctl -q network down
assert_clean "after network down"
assert_eq "$(cf_network_state)" down "state after network down"
cfctl -q network up
assert_eq "$(count_our_links)" 10 "links after network up"

# SIGTERM: the service's stop.
cf_write_config "num_cvd_accounts=12"
cfctl -q reload
assert_eq "$(count_our_links)" 50 "links for 12 slots"
cf_stop_daemon
assert_clean "after SIGTERM"
assert_eq "$(find "$CF_TMP/run" -type f | wc -l)" 0 "lock file left after exit"
# The lease database is persistent state, not runtime: it stays in the state dir.
ls "$CF_TMP/state"/dnsmasq-cvd-ebr.leases >/dev/null || cf_fail "lease database was removed"
echo "PASS"
