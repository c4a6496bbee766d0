#!/usr/bin/env bash
# CreateInstance and the instance methods refuse bad input with a named error whose message names
# what was wrong: every option problem is InvalidOption naming the key; a slot past
# num_cvd_accounts or already taken is SlotBusy; a missing number is NoSuchInstance; Kill(0) is
# InvalidArgs; max_instances_per_user gives QuotaExceeded; without polkit a caller outside
# cvdnetwork gets AccessDenied naming the group. The daemon survives all of it and keeps exactly
# the instances that were created. Every instance is created with start=false: no VMM runs.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

MGR=(busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1
     org.cuttlefish.HostResources1.Manager)
INVALID_OPTION=org.cuttlefish.HostResources1.Error.InvalidOption
SLOT_BUSY=org.cuttlefish.HostResources1.Error.SlotBusy
NO_SUCH_INSTANCE=org.cuttlefish.HostResources1.Error.NoSuchInstance
QUOTA_EXCEEDED=org.cuttlefish.HostResources1.Error.QuotaExceeded

# create_bad KEY-IN-MESSAGE N KEY TYPE VALUE...: refused as InvalidOption "Option 'KEY'".
create_bad() {
        local key=$1
        shift
        expect_error "$INVALID_OPTION" "Option '$key'" "${MGR[@]}" CreateInstance 'a{sv}' "$@"
}

cf_write_config "num_cvd_accounts=3" "max_instances_per_user=1"
cf_start_daemon

K=(kernel s /nonexistent start b false)         # 2 entries: a valid base that starts nothing

create_bad no_such_option 3 "${K[@]}" no_such_option u 1
create_bad cpus 3 "${K[@]}" cpus s 4
expect_error "$INVALID_OPTION" "wrong type 's'; it takes 'u'" "${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" cpus s 4
create_bad memory_mb 3 "${K[@]}" memory_mb u 1
expect_error "$INVALID_OPTION" "1 is out of range" "${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" memory_mb u 1
create_bad kernel 2 kernel s vmlinuz start b false
create_bad kernel 2 kernel s /boot/../etc/shadow start b false
expect_error "$INVALID_OPTION" "'/boot/../etc/shadow' is not an absolute path (no '..')" \
        "${MGR[@]}" CreateInstance 'a{sv}' 2 kernel s /boot/../etc/shadow start b false
create_bad restart 3 "${K[@]}" restart s sometimes
create_bad gpu_mode 3 "${K[@]}" gpu_mode s bogus
create_bad cpus 4 "${K[@]}" cpus u 1 cpus u 2
expect_error "$INVALID_OPTION" "given twice" "${MGR[@]}" CreateInstance 'a{sv}' 4 "${K[@]}" cpus u 1 cpus u 2
create_bad boot_timeout_sec 3 "${K[@]}" boot_timeout_sec u 30
create_bad initrd 3 disks as 1 /nonexistent.img initrd s /nonexistent.cpio start b false
create_bad kernel 1 start b false
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances after refused options"

# Slots: past num_cvd_accounts names the range; a taken one names its owner.
expect_error "$SLOT_BUSY" "this host has slots 1 to 3" "${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" number u 5
OUT=$("${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" number u 2)
assert_eq "$OUT" 'uo 2 "/org/cuttlefish/HostResources1/instance/2"' "reply of CreateInstance number=2"
expect_error "$SLOT_BUSY" "slot 2 is taken by instance 2 of uid 0" "${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" number u 2

# A number without an instance.
for method in GetInstance StopInstance RemoveInstance; do
        expect_error "$NO_SUCH_INSTANCE" "No instance 3." "${MGR[@]}" "$method" u 3
done
expect_error "$NO_SUCH_INSTANCE" "No instance 0." "${MGR[@]}" GetInstance u 0
expect_error "$NO_SUCH_INSTANCE" "No instance 4294967295." "${MGR[@]}" RemoveInstance u 4294967295

# Kill(0) is not a signal; the instance stays as it was.
expect_error org.freedesktop.DBus.Error.InvalidArgs "Signal 0 is not a valid signal number" \
        busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1/instance/2 \
        org.cuttlefish.HostResources1.Instance Kill i 0
assert_eq "$(instance_field 2 state)" stopped "state of instance 2 after Kill(0)"

# Without polkit on the bus, creating needs group cvdnetwork; nobody has no instance yet, so the
# quota does not answer first.
as_nonmember() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
expect_error org.freedesktop.DBus.Error.AccessDenied "needs membership in group 'cvdnetwork'" \
        as_nonmember "${MGR[@]}" CreateInstance 'a{sv}' 2 "${K[@]}"

WANT_NUMBERS='[2]'
CVDNETWORK_GID=$(getent group cvdnetwork | cut -d: -f3 || true)
if [ -n "$CVDNETWORK_GID" ]; then
        # A member: nobody with cvdnetwork among its groups, and listed in the user database, which
        # is what the daemon consults (libsystemd 252 does not pass on the groups dbus-daemon
        # reports). The edited /etc/group is bind-mounted in this test's own mount namespace only.
        sed -e '/^cvdnetwork:/ { s/:$/:nobody/; t; s/$/,nobody/ }' /etc/group > "$CF_TMP/group"
        mount --bind "$CF_TMP/group" /etc/group
        id -nG nobody | grep -qw cvdnetwork || cf_fail "nobody is not in cvdnetwork after the bind mount"
        as_member() { setpriv --reuid=nobody --regid=nogroup --groups="$CVDNETWORK_GID" "$@"; }
        OUT=$(as_member "${MGR[@]}" CreateInstance 'a{sv}' 2 "${K[@]}")
        assert_eq "$OUT" 'uo 1 "/org/cuttlefish/HostResources1/instance/1"' "nobody's first instance"
        assert_eq "$(instance_field 1 owner)" "$(id -u nobody)" "owner of nobody's instance"
        expect_error "$QUOTA_EXCEEDED" "uid $(id -u nobody) already has 1 instances" \
                as_member "${MGR[@]}" CreateInstance 'a{sv}' 2 "${K[@]}"
        # The quota counts the uid, whatever its groups.
        expect_error "$QUOTA_EXCEEDED" "(max_instances_per_user)" \
                as_nonmember "${MGR[@]}" CreateInstance 'a{sv}' 2 "${K[@]}"
        # Root has no quota.
        "${MGR[@]}" CreateInstance 'a{sv}' 2 "${K[@]}" >/dev/null
        WANT_NUMBERS='[1,2,3]'
else
        cf_info "no group cvdnetwork on this machine: the member and quota checks are left out"
fi

# Nothing above crashed the daemon, and it holds exactly what was created, none of it running.
pid_alive "$DAEMON_PID" || cf_fail "daemon died on bad input"
assert_eq "$("$CFCTL" --json=short list | jq -c '[.[].number] | sort')" "$WANT_NUMBERS" "instances listed"
assert_eq "$("$CFCTL" --json=short list | jq -c '[.[].state] | unique')" '["stopped"]' "states of the instances"
echo "PASS"
