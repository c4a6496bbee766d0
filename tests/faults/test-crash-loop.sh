#!/usr/bin/env bash
# A VMM that crashes as soon as it starts, with restart=always: the daemon restarts it with a
# growing back-off, stops after five restarts within a minute (failed/restart-limit), leaves no
# VMM behind, and the instance can still be started and removed.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_build_guest
cf_write_config "num_cvd_accounts=2" "dhcp_ping=no"
cf_start_daemon
LINKS=$(count_our_links)

# An unknown QEMU option: QEMU exits with status 1 right after exec, every time.
N=$("$CFCTL" start --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" --memory-mb=128 --cpus=1 \
        --restart=always --extra-arg=-no-such-option) || cf_fail "start"
limited() { [ "$(instance_field "$N" state)/$(instance_field "$N" reason)" = failed/restart-limit ]; }
cf_wait_for 60 limited || cf_fail "restart limit not reached: $(instance_json "$N")"
RESTARTS=$(grep -c "Instance $N .*restarting in" "$CF_TMP/daemon.log")
assert_eq "$RESTARTS" 5 "restarts before giving up"
# The back-off grew: 500, 1000, 2000, 4000, 8000 ms.
grep -o "restarting in [0-9]* ms" "$CF_TMP/daemon.log" | awk '{print $3}' | tr '\n' ' ' | grep -q '^500 1000 2000 4000 8000 $' ||
        cf_fail "back-off: $(grep -o 'restarting in [0-9]* ms' "$CF_TMP/daemon.log" | tr '\n' ',')"
cf_assert_consistent "$LINKS"
assert_eq "$(cf_vmm_pids | wc -l)" 0 "VMMs after the restart limit"
# Still the owner's to start (it fails the same way) and to remove.
busctl --system call org.cuttlefish.HostResources1 "/org/cuttlefish/HostResources1/instance/$N" \
        org.cuttlefish.HostResources1.Instance Start >/dev/null 2>&1 || true
crashed() { [ "$(instance_field "$N" state)" = failed ] && [ -z "$(cf_vmm_pids)" ]; }
cf_wait_for 10 crashed || cf_fail "Start after the limit: $(instance_json "$N")"
"$CFCTL" rm "$N" || cf_fail "rm"
cf_assert_consistent "$LINKS"
echo "PASS"
