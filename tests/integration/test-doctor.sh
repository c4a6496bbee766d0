#!/usr/bin/env bash
# DescribeHost() and cfctl doctor: the host's devices and backends as JSON, and each problem
# named with the command that fixes it (a foreign link on our name, the network down, a user
# outside cvdnetwork); exit 1 while problems remain, 0 when none.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

ip link add cvd-etap-02 type veth peer name squat-peer
cf_write_config "num_cvd_accounts=2"
cf_start_daemon

HOST=$(busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager DescribeHost | sed -e 's/^s "//' -e 's/"$//' -e 's/\\"/"/g')
for key in kernel kvm vhost_vsock vhost_net tun backends container conflicts gpu_modes; do
        echo "$HOST" | jq -e "has(\"$key\")" >/dev/null || cf_fail "DescribeHost lacks '$key': $HOST"
done
echo "$HOST" | jq -e '.tun.present == true' >/dev/null || cf_fail "tun not seen"
echo "$HOST" | jq -e '.conflicts[0] | startswith("cvd-etap-02")' >/dev/null || cf_fail "conflict not in DescribeHost"

set +e
OUT=$("$CFCTL" --json=short doctor)
RC=$?
set -e
assert_eq "$RC" 1 "doctor exit code with a problem"
echo "$OUT" | jq -e '.checks[] | select(.check == "conflict") | .fix == "sudo ip link delete cvd-etap-02"' >/dev/null ||
        cf_fail "doctor does not name the conflict with its fix: $OUT"
echo "$OUT" | jq -e '.checks[] | select(.check == "network") | .result == "problem"' >/dev/null ||
        cf_fail "degraded network not a problem"

# A user outside cvdnetwork is told how to join.
set +e
OUT=$(as_nobody "$CFCTL" doctor 2>&1)
set -e
[[ "$OUT" == *"fix: sudo usermod -aG cvdnetwork \$USER"* ]] || cf_fail "doctor for nobody: $OUT"

# Fixed: exit 0.
ip link delete cvd-etap-02
cfctl -q network up
set +e
OUT=$("$CFCTL" --json=short doctor)
RC=$?
set -e
echo "$OUT" | jq -e '[.checks[] | select(.result == "problem")] | length == 0' >/dev/null ||
        { [ -z "$(command -v qemu-system-x86_64)" ] || cf_fail "problems remain: $OUT"; }
[ "$RC" = 0 ] || [ -z "$(command -v qemu-system-x86_64)" ] || cf_fail "doctor exit code without problems: $RC"
echo "PASS"
