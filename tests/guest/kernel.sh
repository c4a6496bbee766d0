#!/usr/bin/env bash
# kernel.sh: prints the path of the newest installed kernel image, for booting test guests.
#
# Debian/Ubuntu: /boot/vmlinuz-KVER. Fedora/CentOS: /lib/modules/KVER/vmlinuz (kernel-core puts it
# there; /boot/vmlinuz-KVER exists only when kernel-install ran). Rescue images are ignored.
# Only kernels whose modules directory exists count: the guest initramfs needs its virtio modules.
# Exit 1, with a message on stderr, when there is none.
set -euo pipefail

# "KVER PATH" lines; the newest KVER (sort -V) wins, /boot first when both exist.
list=""
for k in /boot/vmlinuz-* /lib/modules/*/vmlinuz /usr/lib/modules/*/vmlinuz; do
        [ -f "$k" ] || continue
        case "$k" in
        /boot/vmlinuz-*) v=${k#/boot/vmlinuz-} ;;
        *) v=$(basename "$(dirname "$k")") ;;
        esac
        case "$v" in *rescue*) continue ;; esac
        [ -d "/lib/modules/$v" ] || [ -d "/usr/lib/modules/$v" ] || continue
        list+="$v $k"$'\n'
done
best=$(printf '%s' "$list" | sort -s -V -k1,1 | awk 'NF { if ($1 != v) { v = $1; p = $2 } } END { print p }')

if [ -z "$best" ]; then
        echo "kernel.sh: no kernel image found (looked for /boot/vmlinuz-* and /lib/modules/*/vmlinuz with a" \
                "matching /lib/modules/KVER). Install linux-image-amd64 (Debian: INITRD=No apt-get install" \
                "linux-image-amd64) or kernel-core (Fedora)." >&2
        exit 1
fi
echo "$best"
