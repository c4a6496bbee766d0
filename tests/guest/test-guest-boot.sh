#!/usr/bin/env bash
# test-guest-boot.sh: smoke test of the demo/test guest (kernel.sh + mkinitramfs.sh) end to end.
#
# In a fresh network + mount namespace: bridge br0 10.213.77.1/24, TAP tap0 on it, a real dnsmasq
# (--no-ping), and QEMU under TCG booting the newest installed kernel with our initramfs.
#   boot 1: LEASE 10.213.77.x and CF-BOOTED on the console, the MAC in dnsmasq's lease file, the
#           guest answers ping while it idles; then QEMU is killed.
#   boot 2: cf.poweroff=1: QEMU (no -no-shutdown) exits by itself with status 0.
#   boot 3: cf.panic=1 (with panic=1 -no-reboot): the kernel panics and QEMU exits.
# Prints the measured times. Needs root, qemu-system-x86_64, dnsmasq, busybox-static, a kernel.
# Exit 77 = skip.
# shellcheck source=../helpers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../helpers/lib.sh"
cf_enter_namespace "$@"

GUEST_DIR=$CF_SRC_DIR/tests/guest
BOUND=${CF_GUEST_BOUND:-60}   # seconds allowed per boot (TCG boot to lease is about 6-7 s here)
QEMU=$(command -v qemu-system-x86_64 || true)
DNSMASQ=$(command -v dnsmasq || PATH=$PATH:/usr/sbin:/sbin command -v dnsmasq || true)
[ -n "$QEMU" ] || cf_skip "qemu-system-x86_64 missing"
[ -n "$DNSMASQ" ] || cf_skip "dnsmasq missing"
[ -e /dev/net/tun ] || cf_skip "/dev/net/tun missing"
KERNEL=$("$GUEST_DIR/kernel.sh") || cf_skip "no kernel image installed"

CF_TMP=$(mktemp -d /tmp/cfhr-guest.XXXXXX)
chmod 755 "$CF_TMP"
trap cf_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }

# --- image
t0=$(now_ms)
INITRD=$("$GUEST_DIR/mkinitramfs.sh" "$CF_TMP/guest.cpio.gz") || cf_fail "mkinitramfs.sh failed"
t_build=$(( $(now_ms) - t0 ))
cf_info "kernel $KERNEL, initramfs $(stat -c %s "$INITRD") bytes built in $(secs "$t_build")"

# --- network: bridge, TAP, dnsmasq (TESTING.md (d))
ip link set lo up
ip link add br0 type bridge
ip addr add 10.213.77.1/24 dev br0
ip link set br0 up
ip tuntap add dev tap0 mode tap vnet_hdr
ip link set tap0 master br0 up
"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --port=0 \
        --interface=br0 --bind-interfaces --except-interface=lo --no-ping \
        --dhcp-range=10.213.77.10,10.213.77.50,255.255.255.0,1h --dhcp-leasefile="$CF_TMP/leases" \
        --dhcp-authoritative --pid-file="$CF_TMP/dnsmasq.pidfile" --log-dhcp --log-facility=- \
        </dev/null >"$CF_TMP/dnsmasq.log" 2>&1 &
DNSMASQ_PID=$!
CF_PIDS+=("$DNSMASQ_PID")
cf_wait_for 10 test -s "$CF_TMP/dnsmasq.pidfile" || cf_fail "dnsmasq did not start: $(cat "$CF_TMP/dnsmasq.log")"

# boot NAME MAC EXTRA-CMDLINE [QEMU-ARGS...]: starts QEMU in the background; sets QEMU_PID,
# CONSOLE, T_START.
boot() {
        local name=$1 mac=$2 extra=$3
        shift 3
        CONSOLE=$CF_TMP/$name.console
        : > "$CONSOLE"
        T_START=$(now_ms)
        "$QEMU" -accel tcg -m 256 -display none -nodefaults -no-user-config \
                -serial "file:$CONSOLE" \
                -kernel "$KERNEL" -initrd "$INITRD" -append "console=ttyS0 quiet $extra" \
                -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
                -device "virtio-net-pci,netdev=n0,mac=$mac" "$@" \
                </dev/null >"$CF_TMP/$name.qemu.log" 2>&1 &
        QEMU_PID=$!
        CF_PIDS+=("$QEMU_PID")
}

# wait_console PATTERN: polls the console (bounded) until a line matches; prints ms since start.
wait_console() {
        local deadline=$(( T_START + BOUND * 1000 ))
        until grep -aq -- "$1" "$CONSOLE"; do
                if (( $(now_ms) > deadline )); then
                        echo "--- console:" >&2; cat -v "$CONSOLE" >&2
                        echo "--- qemu:" >&2; cat "$CF_TMP"/*.qemu.log >&2
                        echo "--- dnsmasq:" >&2; tail -n 20 "$CF_TMP/dnsmasq.log" >&2
                        cf_fail "no '$1' on the console within $BOUND s"
                fi
                pid_alive "$QEMU_PID" || { cat -v "$CONSOLE" >&2; cat "$CF_TMP"/*.qemu.log >&2; cf_fail "QEMU exited before '$1'"; }
                sleep 0.05
        done
        echo $(( $(now_ms) - T_START ))
}

# wait_exit: waits (bounded) for QEMU to exit by itself; sets QEMU_RC and T_EXIT (ms since start).
wait_exit() {
        local deadline=$(( T_START + BOUND * 1000 ))
        while pid_alive "$QEMU_PID"; do
                if (( $(now_ms) > deadline )); then
                        cat -v "$CONSOLE" >&2
                        cf_fail "QEMU did not exit within $BOUND s"
                fi
                sleep 0.05
        done
        T_EXIT=$(( $(now_ms) - T_START ))
        QEMU_RC=0
        wait "$QEMU_PID" || QEMU_RC=$?
}

# --- boot 1: lease, boot marker, lease file, ping; QEMU stays up until killed.
MAC1=00:1a:11:e1:cf:02
boot idle "$MAC1" ""
t_init=$(wait_console '^CF-INIT')
t_lease=$(wait_console '^LEASE 10\.213\.77\.')
t_booted=$(wait_console '^CF-BOOTED')
ip=$(grep -a '^LEASE ' "$CONSOLE" | head -n 1 | tr -d '\r' | awk '{print $2}')
grep -q " $MAC1 $ip " "$CF_TMP/leases" || cf_fail "lease file lacks '$MAC1 $ip': $(cat "$CF_TMP/leases")"
! grep -aq 'CF-INSMOD-FAILED\|LEASE-FAILED' "$CONSOLE" || cf_fail "guest reported: $(grep -a FAILED "$CONSOLE")"
busybox ping -c 1 -W 5 "$ip" >/dev/null || cf_fail "guest $ip does not answer ping"
pid_alive "$QEMU_PID" || cf_fail "idle guest's QEMU exited"
cf_info "boot 1 (idle): CF-INIT $(secs "$t_init"), LEASE $ip $(secs "$t_lease"), CF-BOOTED $(secs "$t_booted"); answers ping"
kill "$QEMU_PID"
cf_wait_gone "$QEMU_PID" 50 || cf_fail "QEMU did not stop on SIGTERM"
wait "$QEMU_PID" 2>/dev/null || true

# --- boot 2: cf.poweroff=1 -> QEMU exits by itself with status 0.
MAC2=00:1a:11:e1:cf:03
boot poweroff "$MAC2" "cf.poweroff=1"
t_booted=$(wait_console '^CF-BOOTED')
wait_exit
[ "$QEMU_RC" = 0 ] || cf_fail "QEMU exited with status $QEMU_RC after poweroff: $(cat "$CF_TMP/poweroff.qemu.log")"
grep -aq '^LEASE 10\.213\.77\.' "$CONSOLE" || cf_fail "no lease in the poweroff boot"
cf_info "boot 2 (cf.poweroff=1): CF-BOOTED $(secs "$t_booted"), QEMU exited with status 0 at $(secs "$T_EXIT")"

# --- boot 3: cf.panic=1 -> kernel panic; with panic=1 and -no-reboot QEMU then exits.
MAC3=00:1a:11:e1:cf:04
boot panic "$MAC3" "cf.panic=1 panic=1" -no-reboot
t_booted=$(wait_console '^CF-BOOTED')
t_panic=$(wait_console 'Kernel panic')
wait_exit
cf_info "boot 3 (cf.panic=1): CF-BOOTED $(secs "$t_booted"), 'Kernel panic' $(secs "$t_panic"), QEMU exited ($QEMU_RC) at $(secs "$T_EXIT")"

echo "PASS"
