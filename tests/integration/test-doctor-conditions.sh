#!/usr/bin/env bash
# Host conditions made for real inside the test's own network and mount namespaces, each seen by
# DescribeHost() and named by 'cfctl doctor --json' with its fix, and the daemon doing what the
# docs say instead of breaking the host:
#   - the host probe (backend versions, GPU modes; a virgl probe that crashes is reported, the
#     daemon lives on) and gpu_mode refused over D-Bus when the host lacks it;
#   - no /dev/net/tun (a tmpfs over /dev/net): network failed, fix 'sudo modprobe tun';
#   - a foreign bridge named cvd-ebr: reported, never touched (no address, no port, no dnsmasq,
#     left in place at exit), fix 'sudo ip link delete cvd-ebr';
#   - a route on one of our subnets: setup refused, nothing created, fix 'sudo ip route del ...';
#   - NetworkManager (/run/NetworkManager, on a tmpfs over /run) without an unmanaged-devices
#     entry for cvd-*, then with one;
#   - another table's forward chain with policy drop (plain nftables, then Docker's iptables-nft
#     layout), then with a rule for cvd-*; firewalld's table without, then with, a cvd-* rule;
#   - /.dockerenv, in a root made for the daemon from bind mounts (chroot), never on the real /.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

MGR=(busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1
     org.cuttlefish.HostResources1.Manager)
GPU_UNAVAILABLE=org.cuttlefish.HostResources1.Error.GpuModeUnavailable

host_json() { busctl --system --json=short call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager DescribeHost | jq -r '.data[0]'; }
probe_done() { host_json | jq -e '.probe.state != "running"' >/dev/null; }
doctor_json() { "$CFCTL" --json=short doctor || true; }
# check_is CHECK RESULT FIX-PREFIX: doctor has that check with that result and a fix starting so.
check_is() {
        local out
        out=$(doctor_json)
        echo "$out" | jq -e --arg c "$1" --arg r "$2" --arg f "$3" \
                '[.checks[] | select(.check == $c and .result == $r and ((.fix // "") | startswith($f)))] | length > 0' \
                >/dev/null || cf_fail "doctor lacks check '$1' = $2 with fix '$3...': $(echo "$out" | jq -c '.checks')"
}
no_check() {
        local out
        out=$(doctor_json)
        echo "$out" | jq -e --arg c "$1" '[.checks[] | select(.check == $c)] | length == 0' >/dev/null ||
                cf_fail "doctor still has check '$1': $(echo "$out" | jq -c '.checks')"
}

# expect_error NAME TEXT CMD...: as in test-create-input.sh, from busctl's debug log.
expect_error() {
        local want_name=$1 want_text=$2 out line name msg
        shift 2
        set +e
        out=$(SYSTEMD_LOG_LEVEL=debug "$@" 2>&1)
        set -e
        line=$(printf '%s\n' "$out" | grep -m 1 '^Got message type=error ' || true)
        [ -n "$line" ] || cf_fail "'$*' did not fail with an error reply: $(printf '%s\n' "$out" | tail -n 3)"
        name=$(sed -n 's/.* error-name=\([^ ]*\) error-message=.*/\1/p' <<<"$line")
        msg=${line#* error-message=}
        assert_eq "$name" "$want_name" "error name of '$*' ($msg)"
        [[ "$msg" == *"$want_text"* ]] || cf_fail "message of '$*' lacks '$want_text': $msg"
}

restart_daemon() {
        cf_stop_daemon
        cf_start_daemon
        cf_wait_for 60 probe_done || cf_fail "host probe did not finish: $(host_json)"
}

cf_write_config "num_cvd_accounts=2"

# --- The host probe and gpu_mode --------------------------------------------------------------
cf_start_daemon
cf_wait_for 60 probe_done || cf_fail "host probe did not finish: $(host_json)"
HOST=$(host_json)
echo "$HOST" | jq -e '.probe.state == "done" and (.gpu_modes | length == 4)
        and all(.gpu_modes[]; (.mode | type == "string") and (.available | type == "boolean") and (.reason | length > 0))
        and (.gpu_modes[] | select(.mode == "guest_swiftshader") | .available)' >/dev/null ||
        cf_fail "DescribeHost's probe: $HOST"
if command -v qemu-system-x86_64 >/dev/null; then
        echo "$HOST" | jq -e '.backends.qemu.version | startswith("QEMU emulator version")' >/dev/null ||
                cf_fail "no QEMU version: $(echo "$HOST" | jq -c .backends)"
fi
cf_info "drm_virgl here: $(echo "$HOST" | jq -c '.gpu_modes[0]')"

K=(kernel s /nonexistent start b false)
if echo "$HOST" | jq -e '.gpu_modes[] | select(.mode == "gfxstream") | .available | not' >/dev/null; then
        expect_error "$GPU_UNAVAILABLE" "libgfxstream_backend.so" "${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" gpu_mode s gfxstream
fi
# qemu's auto is "none", stored with the instance.
N=$("${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" gpu_mode s auto | awk '{print $2}')
jq -e --argjson n "$N" '.instances[] | select(.number == $n) | .gpu_mode == "none"' "$CF_TMP/run/state.json" >/dev/null ||
        cf_fail "resolved gpu_mode not stored: $(cat "$CF_TMP/run/state.json")"
"$CFCTL" -q rm "$N"

# A virgl probe that crashes (no EGL vendor, TESTING.md (g)) is a reason, not a dead daemon.
export __EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent.json
restart_daemon
unset __EGL_VENDOR_LIBRARY_FILENAMES
HOST=$(host_json)
if echo "$HOST" | jq -e '.gpu_modes[0].reason != "built without virglrenderer"' >/dev/null; then
        echo "$HOST" | jq -e '.gpu_modes[0] | .mode == "drm_virgl" and .available == false and .reason == "probe crashed (SIGSEGV)"' \
                >/dev/null || cf_fail "crashing probe: $(echo "$HOST" | jq -c .gpu_modes)"
fi
pid_alive "$DAEMON_PID" || cf_fail "daemon died with the probe"
expect_error "$GPU_UNAVAILABLE" "GPU mode 'drm_virgl' is not available on this host" \
        "${MGR[@]}" CreateInstance 'a{sv}' 3 "${K[@]}" gpu_mode s drm_virgl
check_is gpu note "for drm_virgl"

# --- No /dev/net/tun ------------------------------------------------------------------------
mount -t tmpfs cfhr-no-tun /dev/net
restart_daemon
assert_eq "$(cf_network_state)" failed "network state without /dev/net/tun"
host_json | jq -e '.tun.present == false' >/dev/null || cf_fail "tun still present"
check_is tun problem "sudo modprobe tun"
umount /dev/net
"$CFCTL" -q network up
assert_eq "$(cf_network_state)" up "network state with /dev/net/tun back"

# --- A foreign cvd-ebr ----------------------------------------------------------------------
cf_stop_daemon
ip link add cvd-ebr type bridge
ip link set cvd-ebr up
cf_start_daemon
assert_eq "$(cf_network_state)" degraded "network state with a foreign cvd-ebr"
host_json | jq -e '.conflicts | any(startswith("cvd-ebr "))' >/dev/null || cf_fail "cvd-ebr not a conflict"
check_is conflict problem "sudo ip link delete cvd-ebr"
# Untouched: its group, no address, no port of ours, no DHCP server for it.
ip -d link show cvd-ebr | grep -q ' group default ' || cf_fail "cvd-ebr was regrouped: $(ip -d link show cvd-ebr)"
[ -z "$(ip -4 -o addr show dev cvd-ebr)" ] || cf_fail "cvd-ebr got an address"
[ -z "$(ip -o link show master cvd-ebr)" ] || cf_fail "ports on the foreign cvd-ebr: $(ip -o link show master cvd-ebr)"
"$CFCTL" --json=short network status | jq -e '.bridges[] | select(.name == "cvd-ebr") | .dnsmasq.running == false' \
        >/dev/null || cf_fail "dnsmasq runs for the foreign cvd-ebr"
assert_eq "$(our_dnsmasq_pids | wc -l)" 1 "dnsmasq processes (cvd-wbr only)"
cf_stop_daemon
ip link show cvd-ebr >/dev/null 2>&1 || cf_fail "the foreign cvd-ebr was removed at exit"
ip link delete cvd-ebr

# --- A route on one of our subnets ---------------------------------------------------------
ip link add ovl0 type veth peer name ovl1
ip link set ovl0 up
ip route add 192.168.96.0/24 dev ovl0
cf_start_daemon
assert_eq "$(cf_network_state)" failed "network state with an overlapping route"
assert_eq "$(count_our_links)" 0 "links created despite the overlap"
"$CFCTL" --json=short network status | jq -e '.error | contains("192.168.96.0/24 dev ovl0")' >/dev/null ||
        cf_fail "network error does not name the route: $("$CFCTL" --json=short network status | jq -c .error)"
check_is route-overlap problem "sudo ip route del 192.168.96.0/24 dev ovl0"
ip route del 192.168.96.0/24 dev ovl0
no_check route-overlap
"$CFCTL" -q network up
assert_eq "$(cf_network_state)" up "network state once the route is gone"
ip link delete ovl0

# --- NetworkManager -------------------------------------------------------------------------
# NetworkManager leaves /run/NetworkManager; make one on a tmpfs over /run (this mount namespace
# only: the bus and the daemon's runtime dir live under $CF_TMP).
covered=false
for f in /etc/NetworkManager/NetworkManager.conf /etc/NetworkManager/conf.d/*.conf /usr/lib/NetworkManager/conf.d/*.conf; do
        [ -f "$f" ] && grep -q 'interface-name:cvd' "$f" && covered=true
done
mount -t tmpfs cfhr-run /run
mkdir -p /run/NetworkManager/conf.d
if [ "$covered" = false ]; then
        check_is networkmanager problem "printf '[keyfile]\\nunmanaged-devices+=interface-name:cvd-*\\n' | sudo tee /etc/NetworkManager/conf.d/99-cuttlefish-host-resources.conf"
else
        cf_info "this machine's NetworkManager configuration already covers cvd-*: checking the covered case only"
fi
printf '[keyfile]\nunmanaged-devices=interface-name:cvd-*\n' > /run/NetworkManager/conf.d/99-test.conf
no_check networkmanager
umount /run

# --- Forward chains that drop ----------------------------------------------------------------
nft add table inet cfhr_fw
nft add chain inet cfhr_fw fwd_chain '{ type filter hook forward priority 0; policy drop; }'
check_is forward-drop problem 'sudo nft insert rule inet cfhr_fw fwd_chain iifname "cvd-*" accept'
nft add rule inet cfhr_fw fwd_chain iifname '"cvd-*"' accept
no_check forward-drop
nft delete table inet cfhr_fw
# Docker's layout under iptables-nft: "ip filter" FORWARD policy drop, a DOCKER-USER chain.
nft add table ip filter
nft add chain ip filter FORWARD '{ type filter hook forward priority 0; policy drop; }'
nft add chain ip filter DOCKER-USER
check_is forward-drop problem "sudo iptables -I DOCKER-USER -i cvd-+ -j ACCEPT"
nft delete table ip filter
no_check forward-drop
# firewalld's layout: policy accept, a reject at the end, in table inet firewalld.
nft add table inet firewalld
nft add chain inet firewalld filter_FORWARD '{ type filter hook forward priority filter + 10; policy accept; }'
nft add rule inet firewalld filter_FORWARD reject with icmpx admin-prohibited
check_is firewalld problem "sudo firewall-cmd --permanent --zone=trusted --add-interface=cvd-ebr"
nft insert rule inet firewalld filter_FORWARD iifname '"cvd-ebr"' accept
no_check firewalld
nft delete table inet firewalld

# --- Inside a container (/.dockerenv) ---------------------------------------------------------
# A root for the daemon alone: a tmpfs over /mnt (so nothing of it is under $CF_TMP, which the
# cleanup removes), every top-level directory of / bind-mounted into it. The daemon runs chrooted
# there first without /.dockerenv, then with it.
start_in_root() {
        chroot "$ROOT" "$DAEMON" --config="$CF_TMP/config" --runtime-dir="$CF_TMP/run" --state-dir="$CF_TMP/state" \
                --log-level=info </dev/null >>"$CF_TMP/daemon.log" 2>&1 &
        DAEMON_PID=$!
        CF_PIDS+=("$DAEMON_PID")
        cf_wait_for 15 cf_network_settled || cf_fail "daemon in the container root did not come up"
}
cf_stop_daemon
ROOT=/mnt/cfhr-root
mount -t tmpfs cfhr-root /mnt
mkdir "$ROOT"
for d in /*; do
        name=${d#/}
        case "$name" in mnt|lost+found|.dockerenv) continue ;; esac
        if [ -L "$d" ]; then
                cp -a "$d" "$ROOT/$name"
        elif [ -d "$d" ]; then
                mkdir "$ROOT/$name"
                mount --rbind "$d" "$ROOT/$name"
        fi
done
mkdir "$ROOT/mnt"
start_in_root
host_json | jq -e '.container != "docker"' >/dev/null || cf_fail "docker seen without /.dockerenv: $(host_json | jq -c .container)"
cf_stop_daemon
touch "$ROOT/.dockerenv"
start_in_root
assert_eq "$(host_json | jq -r .container)" docker "container"
check_is container note "run the container with --privileged"
cf_stop_daemon
umount -R /mnt || umount -R -l /mnt
echo "PASS"
