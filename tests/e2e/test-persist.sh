#!/usr/bin/env bash
# Instances that outlive a host reboot. Each instance's definition is kept in the state dir, written
# by root into a directory of root's. A simulated reboot (the daemon SIGKILLed, every VMM and dnsmasq
# killed, our links, nftables table and cgroups gone, the runtime dir deleted, the daemon started
# again on the same state dir) brings every definition back as stopped/host-reboot, holding its slot,
# and the autostart one is started again: it boots and takes its DHCP lease. SetAutostart is
# persisted at once; a damaged definition is kept aside and reported, its instance not recreated;
# Remove deletes the definition.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
cf_build_guest

cf_write_config "num_cvd_accounts=4" "dhcp_ping=no"
cf_start_daemon
N1=$(cf_start_guest root)
N2=$(cf_start_guest root --autostart)
[ -n "$N1" ] && [ -n "$N2" ] || cf_fail "guests did not boot: $(tail -n 5 "$CF_TMP/cfctl-start.log")"
DEF=$CF_TMP/state/instances
[ -f "$DEF/$N1/definition.json" ] && [ -f "$DEF/$N2/definition.json" ] ||
        cf_fail "no definitions: $(ls -lR "$DEF" 2>&1)"
assert_eq "$(stat -c '%U %a' "$DEF/$N2" "$DEF/$N2/definition.json" | tr '\n' ' ')" "root 755 root 644 " \
        "owner and mode of a definition and its directory"
saved_autostart() { jq -r '.instances[0].autostart' "$DEF/$1/definition.json"; }
assert_eq "$(saved_autostart "$N2")" true "autostart in the definition of $N2"
assert_eq "$(instance_field "$N2" autostart)" true "Autostart of $N2"

# SetAutostart is persisted at once, both ways; a bad word is refused with what to type.
"$CFCTL" autostart "$N1" on || cf_fail "cfctl autostart $N1 on"
assert_eq "$(saved_autostart "$N1")" true "autostart of $N1 after 'cfctl autostart on'"
"$CFCTL" autostart "$N1" off || cf_fail "cfctl autostart $N1 off"
assert_eq "$(saved_autostart "$N1")" false "autostart of $N1 after 'cfctl autostart off'"
if out=$("$CFCTL" autostart "$N1" maybe 2>&1); then cf_fail "cfctl autostart N maybe succeeded"; fi
echo "$out" | grep -q "'maybe' is not on or off" || cf_fail "unclear error for a bad word: $out"

# What a disk error or a hand edit leaves: a definition cut short, for slot 3.
mkdir -p "$DEF/3"
printf '{"instances":[{"number":3,"owner":0,' > "$DEF/3/definition.json"

# The reboot.
P1=$(instance_field "$N1" pid)
P2=$(instance_field "$N2" pid)
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
kill -9 "$P1" "$P2"
for f in "$CF_TMP"/run/dnsmasq-*.pid; do [ -f "$f" ] && kill "$(cut -d' ' -f1 "$f")" 2>/dev/null; done
cf_wait_gone "$P1" 50 && cf_wait_gone "$P2" 50 || cf_fail "VMMs did not die"
for l in $(our_links); do ip link delete "$l" 2>/dev/null || true; done
nft delete table inet cuttlefish_host_resources 2>/dev/null || true
cf_cleanup_cgroups
rm -rf "$CF_TMP/run"
[ "$(count_our_links)" = 0 ] || cf_fail "links left before the restart: $(our_links)"

cf_start_daemon
grep -q "Instance $N1 (uid 0): back from its definition, stopped (host-reboot)" "$CF_TMP/daemon.log" ||
        cf_fail "$N1 not back from its definition"
grep -q "Instance $N2 (uid 0): back from its definition, stopped (host-reboot); it starts once" "$CF_TMP/daemon.log" ||
        cf_fail "$N2 not back from its definition as an autostart instance"
assert_eq "$(instance_field "$N1" state)/$(instance_field "$N1" reason)" stopped/host-reboot "$N1 after the reboot"
booted() { [ "$(instance_field "$N2" state)" = running ] && [ "$(instance_field "$N2" booted)" = true ]; }
cf_wait_for 150 booted || cf_fail "autostart instance $N2 did not boot: $(instance_json "$N2")"
lease() { status_json | jq -e ".slots[] | select(.number == $N2) | .taps[] | select(.kind == \"ethernet\") | .lease.ip" >/dev/null; }
cf_wait_for 30 lease || cf_fail "autostart instance $N2 has no DHCP lease: $(status_json | jq -c ".slots[] | select(.number == $N2)")"
assert_eq "$(instance_field "$N1" state)" stopped "$N1 (no autostart) stays stopped"

# The damaged definition: kept aside, reported, nothing recreated from it.
ls "$DEF"/3/definition.json.bad-* >/dev/null 2>&1 || cf_fail "the damaged definition was not kept aside: $(ls -l "$DEF/3")"
grep -q "The definition of instance 3 is damaged" "$CF_TMP/daemon.log" || cf_fail "the damaged definition was not reported"
[ -z "$(instance_json 3)" ] || cf_fail "instance 3 was recreated from a damaged definition"

# A slot held by a stopped definition is not given to someone else; the owner starts it again.
busy=$(busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager CreateInstance 'a{sv}' 3 number u "$N1" kernel s "$GUEST_KERNEL" start b false 2>&1) &&
        cf_fail "slot $N1 given to a new instance: $busy"
echo "$busy" | grep -q "slot $N1 is taken by instance $N1" || cf_fail "unclear error for the held slot: $busy"
busctl --system call org.cuttlefish.HostResources1 "/org/cuttlefish/HostResources1/instance/$N1" \
        org.cuttlefish.HostResources1.Instance Start || cf_fail "Start of $N1 after the reboot"
booted1() { [ "$(instance_field "$N1" booted)" = true ]; }
cf_wait_for 150 booted1 || cf_fail "$N1 did not boot when started: $(instance_json "$N1")"

# Remove takes the definition with it.
"$CFCTL" rm "$N1" "$N2"
[ ! -e "$DEF/$N1" ] && [ ! -e "$DEF/$N2" ] || cf_fail "definitions left after rm: $(ls -lR "$DEF")"
echo "PASS"
