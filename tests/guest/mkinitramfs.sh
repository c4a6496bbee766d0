#!/usr/bin/env bash
# mkinitramfs.sh OUT.cpio.gz [KVER]: builds the demo/test guest's initramfs.
#
# Contents: a static busybox, the virtio modules of kernel KVER (default: the one kernel.sh picks,
# i.e. the newest installed), a udhcpc script and an /init. Boot it with that kernel:
#
#   qemu-system-x86_64 -accel tcg -m 256 -display none -nodefaults -serial file:CONSOLE \
#     -kernel "$(tests/guest/kernel.sh)" -initrd OUT.cpio.gz -append 'console=ttyS0 quiet' \
#     -netdev tap,id=n0,ifname=TAP,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=UNIQUE
#
# What the guest prints on its console (ttyS0), each on a line of its own:
#   CF-INIT          /init runs and the modules are loaded
#   LEASE <ip>       eth0 got <ip> by DHCP (or "LEASE-FAILED" when no lease came in 10 s)
#   DISK <line>      with a virtio disk (/dev/vda): its first line, as it was at boot
#   CF-BOOTED        boot finished: the marker to wait for
# From the kernel command line, before CF-BOOTED:
#   cf.disk=TEXT     write TEXT as the disk's first line (after printing the old one)
# Then:
#   cf.poweroff=1    power off right after CF-BOOTED (QEMU without -no-shutdown exits, status 0)
#   cf.panic=1       kernel panic right after CF-BOOTED (sysrq c)
#   neither          idle forever; the kernel keeps answering ARP/ping on the leased address
#
# The image is reproducible: same inputs, same bytes (sorted entries, fixed mtimes, owner 0:0,
# renumbered inodes, gzip without name/time). Prints OUT on success.
set -euo pipefail

usage() { echo "usage: $0 OUT.cpio.gz [KVER]" >&2; exit 2; }
die() { echo "mkinitramfs.sh: $*" >&2; exit 1; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Debian builds these as modules (CONFIG_VIRTIO=m, VIRTIO_PCI=m, VIRTIO_NET=m); load order matters.
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk)

if [ $# -ge 2 ]; then
        KVER=$2
else
        kernel=$("$HERE/kernel.sh") || exit 1
        case "$kernel" in
        /boot/vmlinuz-*) KVER=${kernel#/boot/vmlinuz-} ;;
        *) KVER=$(basename "$(dirname "$kernel")") ;;
        esac
fi
[ -d "/lib/modules/$KVER" ] || [ -d "/usr/lib/modules/$KVER" ] || die "no /lib/modules/$KVER"
command -v modinfo >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v modinfo >/dev/null || die "modinfo missing (package kmod)"
command -v cpio >/dev/null || die "cpio missing (package cpio)"

# A statically linked busybox: busybox-static on Debian (it replaces the dynamic one in /bin),
# busybox on Fedora (built static, in /usr/sbin). BUSYBOX=PATH overrides.
find_busybox() {
        local b
        for b in ${BUSYBOX:-} /bin/busybox /usr/bin/busybox /usr/sbin/busybox /sbin/busybox "$(command -v busybox || true)"; do
                if [ -z "$b" ] || [ ! -x "$b" ]; then continue; fi
                # A dynamic executable names its shared libraries; a static one makes ldd fail.
                if LC_ALL=C ldd "$b" 2>/dev/null | grep -q '=>'; then
                        continue
                fi
                echo "$b"
                return 0
        done
        return 1
}
BB=$(find_busybox) || die "no statically linked busybox found (install busybox-static; Fedora: busybox), or set BUSYBOX="

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/cf-initramfs.XXXXXX")
tmp=$OUT.tmp.$$
trap 'rm -rf "$STAGE" "$tmp"' EXIT
umask 022
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/modules}
install -m 0755 "$BB" "$STAGE/bin/busybox"

# Modules: uncompressed .ko on Debian 12; .ko.xz / .ko.zst / .ko.gz elsewhere (insmod wants plain).
# A module built into this kernel ("(builtin)", e.g. Fedora's virtio_pci) is left out. Kernels before
# 5.14/5.15 have no virtio_pci_*_dev: those two may be missing; any other missing module is an error.
# /init loads what is there, in this order.
loaded=()
for m in "${MODULES[@]}"; do
        path=$(modinfo -k "$KVER" -n "$m" 2>/dev/null || true)
        case "$path" in
        "")
                case "$m" in
                virtio_pci_*_dev) echo "mkinitramfs.sh: note: no module $m in $KVER; left out" >&2; continue ;;
                *) die "module $m not found for kernel $KVER (modinfo -k $KVER -n $m)" ;;
                esac
                ;;
        "(builtin)" | builtin*) continue ;;
        esac
        dst=$STAGE/lib/modules/$m.ko
        case "$path" in
        *.ko) cp "$path" "$dst" ;;
        *.ko.xz) xz -dc "$path" > "$dst" || die "cannot decompress $path (xz)" ;;
        *.ko.zst) zstd -qdc "$path" > "$dst" || die "cannot decompress $path (zstd)" ;;
        *.ko.gz) gzip -dc "$path" > "$dst" || die "cannot decompress $path (gzip)" ;;
        *) die "unexpected module file $path" ;;
        esac
        chmod 0644 "$dst"
        loaded+=("$m")
done
printf '%s\n' "${loaded[@]}" > "$STAGE/etc/modules"

cat > "$STAGE/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc calls this (busybox-static ships no default script; without one the lease is not applied).
case "$1" in
deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route add default via "$r" dev "$interface" && break; done
        echo "LEASE $ip" > /dev/console
        ;;
esac
exit 0
EOF

cat > "$STAGE/init" <<'EOF'
#!/bin/busybox sh
# Demo/test guest init (tests/guest/mkinitramfs.sh). Lines for the host: CF-INIT, LEASE <ip>, CF-BOOTED.
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
for m in $(cat /etc/modules); do
        insmod "/lib/modules/$m.ko" || echo "CF-INSMOD-FAILED $m"
done
echo CF-INIT
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ip link set eth0 up
# The script prints "LEASE <ip>"; udhcpc's own chatter stays off the console.
udhcpc -i eth0 -s /udhcpc.script -t 10 -T 1 -n -q >/dev/null 2>&1 || echo LEASE-FAILED
i=0
while [ ! -e /dev/vda ] && [ -d /sys/bus/virtio/drivers/virtio_blk ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
if [ -e /dev/vda ]; then
        echo "DISK $(head -c 64 /dev/vda | head -n 1)"
        for w in $(cat /proc/cmdline); do
                case "$w" in
                cf.disk=*) printf '%s\n' "${w#cf.disk=}" | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null ;;
                esac
        done
fi
echo CF-BOOTED
case " $(cat /proc/cmdline) " in
*" cf.poweroff=1 "*) poweroff -f ;;
*" cf.panic=1 "*) echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger ;;
esac
while :; do sleep 3600; done
EOF
chmod 0755 "$STAGE/init" "$STAGE/udhcpc.script"

# Reproducible archive: fixed mtimes, sorted names, owner root, inode/dev numbers renumbered.
find "$STAGE" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$OUT")"
(cd "$STAGE" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
        cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n > "$tmp"
mv -f "$tmp" "$OUT"
echo "$OUT"
