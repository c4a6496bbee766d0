#!/usr/bin/env bash
# Creation is authorized and paths are the caller's: a user without the right cannot create
# (real polkitd); a kernel the caller cannot read fails with a clear reason, checked as the caller
# inside the sandbox, never read by the daemon; the console of an instance is its owner's alone.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_start_polkit
cf_build_guest
cat > "$POLKIT_TEST_RULES" <<'JS'
polkit.addRule(function(action, subject) {
        if (action.id == "org.cuttlefish.hostresources.create-instance" && subject.user == "nobody")
                return polkit.Result.YES;
});
JS
cf_write_config "num_cvd_accounts=2"
cf_start_daemon
cf_wait_for 10 bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups '$CFCTL' --no-ask-password start --kernel=/nonexistent 2>&1 | grep -q 'needs authentication'" ||
        cf_fail "polkit did not pick up the test rule"

# bin has no grant (as a user outside cvdnetwork with the shipped rules): refused.
set +e
OUT=$(as_user bin "$CFCTL" start --kernel="$GUEST_KERNEL" 2>&1)
RC=$?
set -e
assert_eq "$RC" 1 "exit code of bin's start"
[[ "$OUT" == *"create-instance"* ]] || cf_fail "bin's start: $OUT"
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances after a refused create"

# A kernel only root can read: the VMM, running as nobody, cannot; the daemon never opens it.
install -m 0600 "$GUEST_KERNEL" "$CF_TMP/root-only-kernel"
set +e
OUT=$(as_user nobody "$CFCTL" start --kernel="$CF_TMP/root-only-kernel" 2>&1)
RC=$?
set -e
assert_eq "$RC" 1 "exit code with an unreadable kernel"
[[ "$OUT" == *"kernel $CF_TMP/root-only-kernel: Permission denied"* ]] || cf_fail "unreadable kernel: $OUT"
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances kept after a failed spawn"
grep -q "cannot start: kernel $CF_TMP/root-only-kernel: Permission denied" "$CF_TMP/daemon.log" || cf_fail "not logged"

# The console and runtime dir of an instance are its owner's (root aside).
N=$(as_user nobody "$CFCTL" start --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" --no-start | tail -n 1)
assert_eq "$(stat -c '%U %a' "$CF_TMP/run/instances/$N" 2>/dev/null || echo absent)" absent "runtime dir before start"
as_user nobody "$CFCTL" rm "$N"
echo "PASS"
