#!/usr/bin/env bash
# Authorization with the real polkitd on the private bus: root always; for others polkit decides
# (asked asynchronously with the caller's bus name), honouring --no-ask-password; rules are
# obeyed both ways; without polkit on the bus the network stays root-only.
source "$(dirname "$0")/../helpers/lib.sh"
[ -n "${CF_TRACE:-}" ] && set -x
cf_setup "$@"
cf_start_polkit

cf_write_config "num_cvd_accounts=2"
cf_start_daemon

try() { # try EXPECTED_RC PATTERN cmd...: runs cmd, checks its exit code and one-line error
        local want_rc=$1 pattern=$2 out rc; shift 2
        set +e
        out=$("$@" 2>&1)
        rc=$?
        set -e
        assert_eq "$rc" "$want_rc" "exit code of '$*' ($out)"
        [[ "$out" == *"$pattern"* ]] || cf_fail "'$*' said '$out', expected '$pattern'"
}

# Default policy (auth_admin_keep), no agent: a challenge, never a silent yes.
try 1 "needs authentication" as_nobody "$CFCTL" --no-ask-password network down
try 1 "no authentication agent answered" as_nobody "$CFCTL" network down
assert_eq "$(cf_network_state)" up "state after refused calls"
grep -q "Authorization of uid 65534 for org.cuttlefish.hostresources.manage-network: denied" "$CF_TMP/daemon.log" ||
        cf_fail "denial not logged"

# Root needs no polkit.
cfctl -q reload

# A rule granting the action to nobody is obeyed (polkitd picks rules up within about a second).
cat > "$POLKIT_TEST_RULES" <<'JS'
polkit.addRule(function(action, subject) {
        if (action.id == "org.cuttlefish.hostresources.manage-network" && subject.user == "nobody")
                return polkit.Result.YES;
});
JS
cf_wait_for 10 as_nobody "$CFCTL" -q --no-ask-password reload || cf_fail "rule granting manage-network not obeyed"
as_nobody "$CFCTL" -q network down
assert_eq "$(cf_network_state)" down "state after nobody's network down"
as_nobody "$CFCTL" -q network up
assert_eq "$(cf_network_state)" up "state after nobody's network up"

# A rule refusing it is obeyed too, with AccessDenied rather than a challenge.
sed -i 's/polkit.Result.YES/polkit.Result.NO/' "$POLKIT_TEST_RULES"
denied() { ! as_nobody "$CFCTL" -q --no-ask-password reload 2>"$CF_TMP/err" && grep -q "Not authorized by polkit" "$CF_TMP/err"; }
cf_wait_for 10 denied || cf_fail "rule refusing manage-network not obeyed: $(cat "$CF_TMP/err")"

# Many callers at once: each gets its own answer, the daemon stays responsive.
CALLERS=()
for i in 1 2 3 4 5 6; do
        as_nobody "$CFCTL" -q --no-ask-password reload 2>"$CF_TMP/caller$i" &
        CALLERS+=($!)
done
for i in 1 2 3 4 5 6; do
        ! wait "${CALLERS[i-1]}" || cf_fail "concurrent caller $i was allowed"
        grep -q "Not authorized by polkit" "$CF_TMP/caller$i" || cf_fail "caller $i: $(cat "$CF_TMP/caller$i")"
done
cfctl -q network status >/dev/null

# Without polkit on the bus: root only.
cf_stop_polkit
try 1 "needs root while polkit is not running" as_nobody "$CFCTL" network down
cfctl -q reload
assert_eq "$(cf_network_state)" up "state at the end"
pid_alive "$DAEMON_PID" || cf_fail "daemon died"
echo "PASS"
