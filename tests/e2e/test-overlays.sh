#!/usr/bin/env bash
# Disk overlays over shared images: two users' guests boot from one read-only base image at the
# same time, each from a qcow2 overlay of its own that qemu-img made as that user in the instance's
# persistent disk directory. Each guest prints its disk's first line at boot ("DISK ...") and then
# writes its own (cf.disk=). After a stop and a start each sees its own write, the base is
# untouched; Reset() (refused while running, and to another user) discards the overlay, so the
# next boot sees the base again; Remove deletes the overlay.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_start_polkit
cf_build_guest
command -v qemu-img >/dev/null || cf_skip "qemu-img missing (qemu-utils)"

A=nobody
B=daemon
cf_write_config "num_cvd_accounts=4" "dhcp_ping=no"
cf_start_daemon
cf_allow_create "$A" "$B"

BASE=$CF_TMP/base.img
printf 'base\n' > "$BASE"
truncate -s 1M "$BASE"
chmod 644 "$BASE"

CF_GUEST_CMDLINE=cf.disk=written-by-A cf_start_guest "$A" --image="$BASE" > "$CF_TMP/nA" &
PA=$!
CF_GUEST_CMDLINE=cf.disk=written-by-B cf_start_guest "$B" --image="$BASE" > "$CF_TMP/nB" &
PB=$!
wait $PA || cf_fail "guest of $A did not boot: $(cat "$CF_TMP/cfctl-start.log")"
wait $PB || cf_fail "guest of $B did not boot: $(cat "$CF_TMP/cfctl-start.log")"
NA=$(cat "$CF_TMP/nA")
NB=$(cat "$CF_TMP/nB")
[ -n "$NA" ] && [ -n "$NB" ] && [ "$NA" != "$NB" ] || cf_fail "instance numbers '$NA' '$NB': $(cat "$CF_TMP/cfctl-start.log")"
console() { cat "$CF_TMP/run/instances/$1/console.log"; }
disk_lines() { console "$1" | tr -d '\r' | grep "^DISK " | tr '\n' '|'; }
assert_eq "$(disk_lines "$NA")" "DISK base|" "what $A's guest saw first"
assert_eq "$(disk_lines "$NB")" "DISK base|" "what $B's guest saw first"
for n in "$NA" "$NB"; do
        o=$CF_TMP/state/instances/$n/disk/image-0.qcow2
        [ -f "$o" ] || cf_fail "no overlay for instance $n: $(ls -lR "$CF_TMP/state/instances" 2>&1)"
        qemu-img info -U "$o" | grep -q "backing file: $BASE" || cf_fail "overlay $o is not over the base: $(qemu-img info -U "$o" 2>&1)"
done
assert_eq "$(stat -c %U "$CF_TMP/state/instances/$NA/disk/image-0.qcow2")" "$A" "owner of $A's overlay"
assert_eq "$(stat -c '%U %a' "$CF_TMP/state/instances/$NB/disk")" "$B 700" "owner and mode of $B's disk directory"

# Reset is refused while the guest runs, and to another user.
out=$(as_user "$A" "$CFCTL" --no-ask-password reset "$NA" 2>&1) && cf_fail "reset of a running instance succeeded"
echo "$out" | grep -q "stop it first" || cf_fail "unclear error for reset while running: $out"
out=$(as_user "$B" "$CFCTL" --no-ask-password reset "$NA" 2>&1) && cf_fail "$B reset $A's instance"
echo "$out" | grep -q "manage-instances needs authentication" || cf_fail "unclear error for another user's reset: $out"

# Stop and start: each guest sees its own write; the base is untouched.
stopped() { [ "$(instance_field "$1" state)" = stopped ]; }
booted() { [ "$(instance_field "$1" state)" = running ] && [ "$(instance_field "$1" booted)" = true ]; }
as_user "$A" "$CFCTL" stop "$NA"
as_user "$B" "$CFCTL" stop "$NB"
cf_wait_for 30 stopped "$NA" && cf_wait_for 30 stopped "$NB" || cf_fail "guests did not stop: $(instance_json "$NA") $(instance_json "$NB")"
as_user "$A" "$CFCTL" restart "$NA"
as_user "$B" "$CFCTL" restart "$NB"
cf_wait_for 150 booted "$NA" && cf_wait_for 150 booted "$NB" || cf_fail "guests did not boot again: $(instance_json "$NA") $(instance_json "$NB")"
assert_eq "$(disk_lines "$NA")" "DISK base|DISK written-by-A|" "what $A's guest saw, boot after boot"
assert_eq "$(disk_lines "$NB")" "DISK base|DISK written-by-B|" "what $B's guest saw, boot after boot"
assert_eq "$(head -n 1 "$BASE")" base "the base image"

# Reset: the overlay goes, the next boot sees the base again.
as_user "$A" "$CFCTL" stop "$NA"
cf_wait_for 30 stopped "$NA" || cf_fail "$NA did not stop"
as_user "$A" "$CFCTL" reset "$NA" || cf_fail "reset of a stopped instance"
[ ! -e "$CF_TMP/state/instances/$NA/disk" ] || cf_fail "overlay left after reset: $(ls -l "$CF_TMP/state/instances/$NA/disk")"
as_user "$A" "$CFCTL" restart "$NA"
cf_wait_for 150 booted "$NA" || cf_fail "$NA did not boot after reset: $(instance_json "$NA")"
assert_eq "$(disk_lines "$NA")" "DISK base|DISK written-by-A|DISK base|" "what $A's guest saw after the reset"

# The disk quota: a user whose instances use more than max_disk_mb_per_user is refused a new one,
# and a start, with the figures. (A file of theirs in their disk directory counts as overlays do.)
cf_write_config "num_cvd_accounts=4" "dhcp_ping=no" "max_disk_mb_per_user=1"
"$CFCTL" reload || cf_fail "reload with max_disk_mb_per_user"
as_user "$B" dd if=/dev/zero of="$CF_TMP/state/instances/$NB/disk/filler" bs=1M count=3 status=none
[ "$(instance_field "$NB" disk_usage)" -ge $((3 * 1024 * 1024)) ] || cf_fail "DiskUsage of $NB: $(instance_json "$NB")"
out=$(as_user "$B" "$CFCTL" --no-ask-password start --no-start --kernel="$GUEST_KERNEL" 2>&1) && cf_fail "$B created an instance over the disk quota"
echo "$out" | grep -q "uid $(id -u "$B")'s instances use [0-9]* MiB of disk, the most allowed is 1 MiB (max_disk_mb_per_user)" ||
        cf_fail "unclear error over the disk quota: $out"
as_user "$B" "$CFCTL" stop "$NB"
cf_wait_for 30 stopped "$NB" || cf_fail "$NB did not stop"
out=$(as_user "$B" "$CFCTL" --no-ask-password restart "$NB" 2>&1) && cf_fail "$B started an instance over the disk quota"
echo "$out" | grep -q "max_disk_mb_per_user" || cf_fail "unclear error for a start over the disk quota: $out"

# Remove deletes the overlays with the definition.
as_user "$A" "$CFCTL" rm "$NA"
as_user "$B" "$CFCTL" rm "$NB"
[ ! -e "$CF_TMP/state/instances/$NA" ] && [ ! -e "$CF_TMP/state/instances/$NB" ] ||
        cf_fail "left after rm: $(ls -lR "$CF_TMP/state/instances")"
assert_eq "$(head -n 1 "$BASE")" base "the base image after all"
echo "PASS"
