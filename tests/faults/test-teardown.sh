#!/usr/bin/env bash
# Teardown and recovery that can be trusted (issue 10), each against the real daemon in this
# test's namespaces:
#  1. a cvd instance whose launch_cvd leaves 40 detached children (setsid + double fork, as
#     run_cvd's helpers do): none survives Remove, on every cgroup layout this host can show (its
#     own hybrid one, v1 with the freezer, v1 without it, pure cgroup2 mounted over it in this
#     test's mount namespace); then another user's QEMU runs on that slot;
#  2. a root `tail -F` of a console log and another user's process in an instance directory
#     survive a daemon restart (orphans are found by our cgroups, not by strings);
#  3. a truncated and a garbage state.json under two running instances: both alive after the
#     restart, each bad file kept;
#  4. a 40-deep tree in an instance directory is gone after Remove, and nothing of it is visible
#     to the next owner of the slot, though its first owner still holds a directory deep inside;
#  5. ListInstances answers while a Remove deletes 100,000 files.
# After each, cf_assert_consistent (which checks our cgroups too).
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
[ -x "${CF_FAKE_LAUNCH_CVD:-}" ] || cf_fail "CF_FAKE_LAUNCH_CVD not built"
cf_start_polkit
cf_build_guest

A=nobody
B=daemon
PKG=$CF_TMP/pkg
IMAGES=$CF_TMP/images
LEAK=cfleak$$ # the name (comm) of the children our launch_cvd leaves
mkdir -p "$PKG/bin" "$IMAGES"
install -m 0755 "$CF_FAKE_LAUNCH_CVD" "$PKG/bin/fake-launch-cvd"
install -m 0755 "$(command -v sleep)" "$PKG/bin/$LEAK"
# launch_cvd: 40 children detached from it (a new session each, their parent gone), then the
# double's own launcher (monitor socket, boot message).
cat > "$PKG/bin/launch_cvd" <<SH
#!/bin/sh
i=0
while [ \$i -lt 40 ]; do
        setsid sh -c '"$PKG/bin/$LEAK" 100000 </dev/null >/dev/null 2>&1 & exit 0' </dev/null >/dev/null 2>&1
        i=\$((i + 1))
done
exec "$PKG/bin/fake-launch-cvd" "\$@"
SH
chmod 0755 "$PKG/bin/launch_cvd" "$IMAGES"

cf_write_config "num_cvd_accounts=3" "dhcp_ping=no"

# Live ones: a killed child waits as a zombie until this machine's init reaps it, and one already
# exiting (PF_EXITING, 0x4 in /proc/PID/stat's flags) has left its cgroup a moment before.
leaked() {
        local n=0 p st
        for p in /proc/[0-9]*; do
                [ "$(cat "$p/comm" 2>/dev/null)" = "$LEAK" ] || continue
                read -r -a st < <(sed 's/.*) //' "$p/stat" 2>/dev/null) || continue
                [ "${st[0]:-Z}" != Z ] && (( (${st[6]:-4} & 4) == 0 )) && n=$((n + 1))
        done
        echo $n
}
leaked_is() { [ "$(leaked)" = "$1" ]; }
start_cvd() {
        as_user "$A" "$CFCTL" --no-ask-password start --wait --timeout=30 --backend=cvd --images-dir="$IMAGES" \
                --host-package="$PKG" --boot-timeout-sec=30 --stop-timeout-sec=2 "$@" 2>>"$CF_TMP/cfctl-start.log" | tail -n 1
}
host_cgroup() { cf_describe_host | jq -c .cgroup; }

# --- 1. Whole trees, on every layout.
tree_case() {
        local layout=$1 n cg
        cf_start_daemon
        # (polkitd keeps the rule across daemon restarts.)
        [ -n "${CF_RULE_SET:-}" ] || { cf_allow_create "$A" "$B"; CF_RULE_SET=1; }
        cg=$(host_cgroup)
        cf_info "layout $layout: $cg"
        [ "$(echo "$cg" | jq -r .layout)" = "$layout" ] || cf_fail "DescribeHost says layout $(echo "$cg" | jq -r .layout), expected $layout"
        n=$(start_cvd --number=1)
        [ "$n" = 1 ] || cf_fail "$layout: cvd instance did not boot (got '$n'): $(tail -n 5 "$CF_TMP/cfctl-start.log"; "$CFCTL" list)"
        cf_wait_for 10 leaked_is 40 || cf_fail "$layout: launch_cvd left $(leaked) children, expected 40"
        as_user "$A" "$CFCTL" rm 1 || cf_fail "$layout: rm failed"
        # Remove answers once the tree is gone: no waiting here.
        assert_eq "$(leaked)" 0 "$layout: children left after Remove"
        cf_assert_consistent
        # The slot is clean for the next owner: a cvd instance again (cheap), its tree ended by Stop.
        n=$(start_cvd --number=1)
        [ "$n" = 1 ] || cf_fail "$layout: slot 1 not reusable: $(tail -n 5 "$CF_TMP/cfctl-start.log")"
        cf_wait_for 10 leaked_is 40 || cf_fail "$layout: second run left $(leaked) children"
        as_user "$A" "$CFCTL" stop 1
        cf_wait_for 20 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[0].state')\" = stopped ]" ||
                cf_fail "$layout: not stopped: $("$CFCTL" --json=short list)"
        assert_eq "$(leaked)" 0 "$layout: children left once stopped"
        as_user "$A" "$CFCTL" rm 1 || cf_fail "$layout: rm of the stopped instance failed"
        cf_assert_consistent
        cf_stop_daemon
}

# This host as it is (a hybrid host here; cgroup2 elsewhere).
native=$(awk '$2 == "/sys/fs/cgroup" {print $3}' /proc/self/mounts | tail -n 1)
if [ "$native" = cgroup2 ]; then tree_case cgroup2; else
        tree_case hybrid
        # Its QEMU, as another user, on the slot the tree left: it runs (a leftover in the slot's
        # pids cgroup made it abort at its first thread before).
        cf_start_daemon
        n=$(start_cvd --number=1)
        cf_wait_for 10 leaked_is 40 || cf_fail "launch_cvd left $(leaked) children"
        as_user "$A" "$CFCTL" rm 1
        as_user "$B" "$CFCTL" --no-ask-password start --number=1 --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" \
                --cmdline="console=ttyS0 quiet" --memory-mb=256 --cpus=1 >/dev/null 2>>"$CF_TMP/cfctl-start.log" ||
                cf_fail "QEMU of $B on slot 1 did not start: $(tail -n 3 "$CF_TMP/cfctl-start.log")"
        cf_wait_for 60 bash -c "[ \"\$('$CFCTL' --json=short list | jq -r '.[0].state')\" = running ]" ||
                cf_fail "QEMU of $B on slot 1 is not running: $("$CFCTL" --json=short list); $(cat "$CF_TMP/run/instances/1/console.log")"
        "$CFCTL" rm 1
        cf_assert_consistent
        cf_stop_daemon
        # cgroup v1 only, as on RHEL/CentOS 8: the freezer ends the tree.
        if grep -q " /sys/fs/cgroup/unified cgroup2" /proc/self/mounts; then
                umount /sys/fs/cgroup/unified
                tree_case v1
                # v1 without the freezer: signals in rounds.
                if grep -q " /sys/fs/cgroup/freezer cgroup" /proc/self/mounts; then
                        umount /sys/fs/cgroup/freezer
                        tree_case v1
                fi
        fi
        # Pure cgroup2 over it all (this mount namespace only): cgroup.kill.
        if mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null; then
                tree_case cgroup2
        else
                cf_info "cannot mount cgroup2 here: the pure cgroup2 case is not run"
        fi
fi
CF_LAYOUTS_DONE=1

# --- 2. Nothing foreign is touched at start.
cf_start_daemon
N=$(start_cvd)
[ -n "$N" ] || cf_fail "cvd instance did not boot"
cf_wait_for 10 leaked_is 40 || cf_fail "launch_cvd left $(leaked) children"
tail -F "$CF_TMP/run/instances/$N/console.log" >/dev/null 2>&1 &
TAIL=$!
CF_PIDS+=("$TAIL")
# (argv[0] names the instance directory, as the old orphan scan looked for.)
setpriv --reuid="$B" --regid="$(id -g "$B")" --clear-groups bash -c 'exec -a "$0" "$1" 100000' \
        "$CF_TMP/run/instances/$N/x" "$PKG/bin/$LEAK" &
OTHER=$!
CF_PIDS+=("$OTHER")
as_user "$A" "$CFCTL" rm "$N"
cf_stop_daemon
cf_start_daemon
kill -0 "$TAIL" 2>/dev/null || cf_fail "root's tail -F of a console log was killed at daemon start"
kill -0 "$OTHER" 2>/dev/null || cf_fail "another user's process naming an instance directory was killed at daemon start"
kill "$TAIL" "$OTHER"
cf_wait_gone "$OTHER" 50 && cf_wait_gone "$TAIL" 50 || cf_fail "tail or the other user's process did not end"
wait "$OTHER" 2>/dev/null || true
cf_assert_consistent

# --- 3. A bad state.json loses nothing.
N1=$(start_cvd)
N2=$(start_cvd)
[ -n "$N1" ] && [ -n "$N2" ] || cf_fail "two cvd instances did not boot"
P1=$(instance_field "$N1" pid)
P2=$(instance_field "$N2" pid)
for bad in truncated garbage; do
        cf_stop_daemon
        case $bad in
        truncated) head -c 100 "$CF_TMP/run/state.json" > "$CF_TMP/state.tmp" ;;
        garbage) printf '\x00\x01{{{ not json' > "$CF_TMP/state.tmp" ;;
        esac
        cat "$CF_TMP/state.tmp" > "$CF_TMP/run/state.json"
        cf_start_daemon
        kill -0 "$P1" 2>/dev/null && kill -0 "$P2" 2>/dev/null || cf_fail "$bad state.json: a VMM was killed"
        assert_eq "$(leaked)" 80 "$bad state.json: processes of the two instances"
        kept=$(ls "$CF_TMP/run"/state.json.bad-* 2>/dev/null | wc -l)
        [ "$kept" -ge 1 ] || cf_fail "$bad state.json: the bad file was not kept"
        cmp -s "$(ls -t "$CF_TMP/run"/state.json.bad-* | head -n 1)" "$CF_TMP/state.tmp" || cf_fail "$bad state.json: the kept file differs"
        for n in "$N1" "$N2"; do
                assert_eq "$(instance_field "$n" state)/$(instance_field "$n" reason)" failed/daemon-lost "$bad: instance $n"
                assert_eq "$(instance_field "$n" owner)" "$(id -u $A)" "$bad: owner of instance $n (from its directory)"
        done
        rm -f "$CF_TMP/run"/state.json.bad-*
done
# The owner removes them: their trees end then.
as_user "$A" "$CFCTL" rm "$N1" "$N2" || cf_fail "rm of the recovered instances failed"
assert_eq "$(leaked)" 0 "processes left after removing the recovered instances"
pid_alive "$P1" && cf_fail "VMM $P1 survived Remove"
cf_assert_consistent

# --- 4. A 40-deep tree, and a first owner still inside it.
N=$(start_cvd --number=2)
[ "$N" = 2 ] || cf_fail "cvd instance 2 did not boot"
D=$CF_TMP/run/instances/2
deep=$(printf 'd/%.0s' $(seq 40))
as_user "$A" mkdir -p "$D/$deep"
as_user "$A" touch "$D/$deep/file"
setpriv --reuid="$A" --regid="$(id -g "$A")" --clear-groups sh -c "cd '$D/$deep' && exec '$PKG/bin/$LEAK' 100000" &
HOLDER=$!
CF_PIDS+=("$HOLDER")
cf_wait_for 5 bash -c "[ \"\$(readlink /proc/$HOLDER/cwd)\" = '$D/${deep%/}' ]" || cf_fail "holder did not enter the deep directory"
as_user "$A" "$CFCTL" rm 2 || cf_fail "rm of the instance with a deep tree failed"
[ ! -e "$D" ] || cf_fail "the instance directory is still there after Remove"
trash_gone() { ! ls -d "$CF_TMP"/run/instances/.trash-* >/dev/null 2>&1; }
cf_wait_for 20 trash_gone || cf_fail "the deep tree was not deleted: $(ls -a "$CF_TMP/run/instances")"
case "$(readlink /proc/$HOLDER/cwd)" in *"(deleted)") ;; *) cf_fail "the holder's directory was not deleted: $(readlink /proc/$HOLDER/cwd)" ;; esac
as_user "$B" "$CFCTL" --no-ask-password start --number=2 --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" \
        --cmdline="console=ttyS0 quiet" --memory-mb=256 --cpus=1 >/dev/null 2>>"$CF_TMP/cfctl-start.log" || cf_fail "$B could not take slot 2"
assert_eq "$(stat -c %U "$D")" "$B" "owner of the new instance directory"
[ -z "$(find "$D" -name d -o -name file)" ] || cf_fail "the next owner sees the old tree: $(find "$D" | head)"
as_user "$A" sh -c "cd /proc/$HOLDER/cwd 2>/dev/null && touch x 2>/dev/null" && cf_fail "the first owner can still write through its old directory"
kill "$HOLDER"
cf_wait_gone "$HOLDER" 50 || cf_fail "the holder did not end"
"$CFCTL" rm 2
cf_assert_consistent

# --- 5. ListInstances while a Remove deletes 100,000 files.
N=$(start_cvd --number=3)
[ "$N" = 3 ] || cf_fail "cvd instance 3 did not boot"
as_user "$A" sh -c "mkdir '$CF_TMP/run/instances/3/many' && cd '$CF_TMP/run/instances/3/many' && seq 100000 | xargs touch"
as_user "$A" "$CFCTL" rm 3 &
RM=$!
cf_wait_for 10 bash -c "ls -d '$CF_TMP'/run/instances/.trash-* >/dev/null 2>&1" || cf_fail "the removal never started"
during=0 worst=0
while ! trash_gone; do
        t0=$(date +%s%N)
        busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.cuttlefish.HostResources1.Manager ListInstances >/dev/null || cf_fail "ListInstances failed"
        t1=$(date +%s%N)
        trash_gone && break # answered only after the deletion: does not count
        during=$((during + 1))
        (( (t1 - t0) / 1000000 > worst )) && worst=$(( (t1 - t0) / 1000000 ))
done
wait "$RM" || cf_fail "rm of the instance with 100,000 files failed"
cf_info "ListInstances answered $during times while 100,000 files were deleted; slowest ${worst} ms"
[ "$during" -ge 3 ] || cf_fail "ListInstances answered only $during times during the deletion: the event loop was blocked"
[ "$worst" -lt 100 ] || cf_fail "ListInstances took $worst ms during the deletion"
cf_assert_consistent
cf_stop_daemon
echo "PASS"
