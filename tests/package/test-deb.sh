#!/usr/bin/env bash
# test-deb.sh: the .deb, built and then installed into a Debian 12 booted with systemd as PID 1.
#
#  1. dpkg-buildpackage -us -uc -b on a copy of the source tree in a scratch dir; lintian.
#  2. A minimal bookworm root from debootstrap, cached under $CF_PKG_CACHE by date, plus a
#     second cached layer with QEMU, polkitd, nftables, iproute2 and the package's dependencies.
#  3. That root booted with systemd-nspawn (--private-network: the service's bridges, taps and
#     nftables table live in the container's own network namespace), driven with nsenter.
#  4. Inside: apt-get install ./the.deb starts the unit; systemd-analyze verify; busctl and
#     cfctl answer; a member of cvdnetwork boots the demo guest with cfctl start --wait; a
#     restart of the service keeps the guest (same VMM pid); rm, stop, purge leave nothing.
#
# The container is powered off and the scratch dir removed on exit, also on failure.
# Skips (77) only when debootstrap cannot reach the Debian mirror, or on a host without dpkg.
# CF_PKG_CACHE overrides the cache dir; CF_PKG_SECURITY_OUT=FILE saves systemd-analyze security.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${CF_PKG_CACHE:-/var/cache/cuttlefish-host-resources-test}
SUITE=bookworm
TODAY=$(date +%Y%m%d)
UNIT=cuttlefish-host-resources.service
NFT_TABLE=cuttlefish_host_resources
# Besides the package's own Depends: what the test uses inside the container.
LAYER_PACKAGES=(qemu-system-x86 polkitd nftables iproute2 procps)

pkg_setup deb
# nspawn leaves empty dirs in /run/systemd/nspawn (TESTING.md (f)): remove them at the end if
# this test made them (the first hook runs last).
RUN_SYSTEMD_EXISTED=$([ -d /run/systemd ] && echo 1 || true)
NSPAWN_RUN_EXISTED=$([ -d /run/systemd/nspawn ] && echo 1 || true)
clean_nspawn_run() {
        if [ -z "$NSPAWN_RUN_EXISTED" ] && [ -d /run/systemd/nspawn ]; then
                find /run/systemd/nspawn -depth -type d -empty -delete 2>/dev/null
                [ -z "$RUN_SYSTEMD_EXISTED" ] && rmdir /run/systemd 2>/dev/null
        fi
        return 0
}
PKG_CLEANUP_HOOKS+=(clean_nspawn_run)
[ -f /etc/debian_version ] || pkg_skip "not a Debian-based host (the rpm test covers this one)"
pkg_need dpkg-buildpackage dpkg-dev debhelper fakeroot
pkg_need debootstrap debootstrap
pkg_need systemd-nspawn systemd-container
pkg_need nsenter util-linux
pkg_need jq jq

# ---- 1. build ---------------------------------------------------------------------------

pkg_info "copying the source tree to $PKG_TMP/src"
pkg_copy_source "$PKG_TMP/src"
pkg_info "dpkg-buildpackage -us -uc -b"
(cd "$PKG_TMP/src" && dpkg-buildpackage -us -uc -b) >"$PKG_TMP/build.log" 2>&1 ||
        { tail -n 40 "$PKG_TMP/build.log" >&2; pkg_fail "dpkg-buildpackage failed"; }
DEB=$(ls "$PKG_TMP"/cuttlefish-host-resources_*_"$(dpkg --print-architecture)".deb)
pkg_info "built $(basename "$DEB")"

if command -v lintian >/dev/null; then
        # Clean but for the tags justified in debian/cuttlefish-host-resources.lintian-overrides.
        lintian --fail-on error,warning "$PKG_TMP"/cuttlefish-host-resources_*.changes >"$PKG_TMP/lintian.log" 2>&1 ||
                { cat "$PKG_TMP/lintian.log" >&2; pkg_fail "lintian reports errors or warnings"; }
        pkg_info "lintian: clean"
fi

# ---- 2. cached root file systems ----------------------------------------------------------

mirror() {
        local m
        m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
        echo "${m:-http://deb.debian.org/debian}"
}

# One builder at a time per cache (meson runs tests in parallel; so may two checkouts).
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -w 900 9 || pkg_fail "could not lock $CACHE/lock"

BASE=$CACHE/$SUITE-base-$TODAY.tar
if [ ! -f "$BASE" ]; then
        MIRROR=$(mirror)
        pkg_info "debootstrap $SUITE from $MIRROR (cached in $BASE)"
        rm -rf "$CACHE/base.tmp"
        if ! debootstrap --variant=minbase --include=systemd-sysv,dbus "$SUITE" "$CACHE/base.tmp" "$MIRROR" \
                >"$PKG_TMP/debootstrap.log" 2>&1; then
                rm -rf "$CACHE/base.tmp"
                if grep -Eq "Failed getting release file|Couldn't download|Temporary failure resolving|Could not resolve|Connection (refused|timed out)|Network is unreachable" \
                        "$PKG_TMP/debootstrap.log"; then
                        tail -n 5 "$PKG_TMP/debootstrap.log"
                        pkg_skip "debootstrap cannot reach $MIRROR"
                fi
                tail -n 30 "$PKG_TMP/debootstrap.log" >&2
                pkg_fail "debootstrap failed"
        fi
        tar --xattrs --xattrs-include='*' --acls -C "$CACHE/base.tmp" -cf "$BASE.tmp" .
        rm -rf "$CACHE/base.tmp"
        mv "$BASE.tmp" "$BASE"
        # Older days' layers go; today's is what every run uses from now on.
        find "$CACHE" -maxdepth 1 -name "$SUITE-*.tar" ! -name "*-$TODAY*.tar" -delete
fi

# The second layer depends on what the package needs: key it by that too.
DEPENDS=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u)
KEY=$(printf '%s\n' "${LAYER_PACKAGES[@]}" $DEPENDS | sort -u | sha256sum | cut -c1-12)
LAYER=$CACHE/$SUITE-deps-$TODAY-$KEY.tar
if [ ! -f "$LAYER" ]; then
        pkg_info "building the dependency layer (cached in $LAYER)"
        rm -rf "$CACHE/deps.tmp"
        mkdir -p "$CACHE/deps.tmp"
        tar --xattrs --xattrs-include='*' --acls -C "$CACHE/deps.tmp" -xpf "$BASE"
        # Nothing started by maintainer scripts while the layer is built.
        printf '#!/bin/sh\nexit 101\n' >"$CACHE/deps.tmp/usr/sbin/policy-rc.d"
        chmod 755 "$CACHE/deps.tmp/usr/sbin/policy-rc.d"
        # Not booted, and in the host's network namespace only to download (apt changes no link).
        # shellcheck disable=SC2086
        if ! systemd-nspawn -q --register=no --keep-unit -D "$CACHE/deps.tmp" \
                -E DEBIAN_FRONTEND=noninteractive -E INITRD=No \
                sh -c 'apt-get -o DPkg::Lock::Timeout=900 update -q &&
                       apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "$@" &&
                       apt-get clean' sh "${LAYER_PACKAGES[@]}" $DEPENDS >"$PKG_TMP/layer.log" 2>&1; then
                rm -rf "$CACHE/deps.tmp"
                if grep -Eq "Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|Network is unreachable" \
                        "$PKG_TMP/layer.log"; then
                        tail -n 5 "$PKG_TMP/layer.log"
                        pkg_skip "apt-get cannot reach the Debian mirror"
                fi
                tail -n 30 "$PKG_TMP/layer.log" >&2
                pkg_fail "installing the dependency layer failed"
        fi
        rm -f "$CACHE/deps.tmp/usr/sbin/policy-rc.d"
        tar --xattrs --xattrs-include='*' --acls -C "$CACHE/deps.tmp" -cf "$LAYER.tmp" .
        rm -rf "$CACHE/deps.tmp"
        mv "$LAYER.tmp" "$LAYER"
        # One dependency layer is kept: the one the package needs now.
        find "$CACHE" -maxdepth 1 -name "$SUITE-deps-*.tar" ! -name "$(basename "$LAYER")" -delete
fi
flock -u 9
exec 9>&-

ROOT=$PKG_TMP/root
mkdir -p "$ROOT"
tar --xattrs --xattrs-include='*' --acls -C "$ROOT" -xpf "$LAYER"
pkg_info "root file system ready ($(basename "$LAYER"))"

# The package, and the demo guest (tests/guest) where a VMM running as the user can read it.
mkdir -p "$ROOT/var/tmp/pkg" "$ROOT/var/lib/demo"
cp "$DEB" "$ROOT/var/tmp/pkg/"
GUEST_KERNEL=$("$CF_SRC_DIR/tests/guest/kernel.sh") || pkg_fail "no kernel image installed (tests/guest/kernel.sh)"
install -m 0644 "$GUEST_KERNEL" "$ROOT/var/lib/demo/vmlinuz"
"$CF_SRC_DIR/tests/guest/mkinitramfs.sh" "$ROOT/var/lib/demo/initramfs.cpio.gz" >/dev/null ||
        pkg_fail "building the guest initramfs"
chmod 0644 "$ROOT/var/lib/demo/initramfs.cpio.gz"

# ---- 3. boot ----------------------------------------------------------------------------

MACHINE=cfhr-pkg-$$
NSPAWN_PID=
LEADER=

stop_container() {
        [ -n "$NSPAWN_PID" ] || return 0
        if kill -0 "$NSPAWN_PID" 2>/dev/null && [ -n "$LEADER" ]; then
                nsenter -t "$LEADER" -a systemctl poweroff >/dev/null 2>&1
        fi
        local tries=150
        while kill -0 "$NSPAWN_PID" 2>/dev/null && (( tries-- > 0 )); do
                sleep 0.2
        done
        if kill -0 "$NSPAWN_PID" 2>/dev/null; then
                echo "# container did not power off in 30 s: killing nspawn (pid $NSPAWN_PID)"
                kill -KILL "$NSPAWN_PID" 2>/dev/null
        fi
        wait "$NSPAWN_PID" 2>/dev/null
        NSPAWN_PID=
        return 0
}
PKG_CLEANUP_HOOKS+=(stop_container)

pkg_info "booting the container $MACHINE (systemd-nspawn -b --private-network)"
systemd-nspawn -b -D "$ROOT" -M "$MACHINE" --register=no --keep-unit --private-network \
        --console=read-only </dev/null >"$PKG_TMP/nspawn.log" 2>&1 &
NSPAWN_PID=$!

# The container's PID 1 is the child of nspawn whose comm is systemd (an intermediate child
# comes first and exits).
for _ in $(seq 150); do
        for p in $(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null); do
                [ "$(ps -o comm= -p "$p" 2>/dev/null)" = systemd ] && LEADER=$p
        done
        [ -n "$LEADER" ] && break
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        sleep 0.2
done
[ -n "$LEADER" ] || { tail -n 20 "$PKG_TMP/nspawn.log" >&2; pkg_fail "the container's systemd did not start"; }

# Runs a command in the container, with a clean environment.
ct() { nsenter -t "$LEADER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# The same as user cfuser, with the groups the user database gives it.
ct_user() { ct setpriv --reuid=cfuser --regid=cfuser --init-groups env HOME=/home/cfuser "$@"; }
# ct_wait SECONDS CMD...: polls CMD in the container until it succeeds.
ct_wait() {
        local deadline=$(( $(date +%s) + $1 )); shift
        until ct "$@" >/dev/null 2>&1; do
                (( $(date +%s) < deadline )) || return 1
                sleep 0.2
        done
}
system_up() { case "$(ct systemctl is-system-running 2>/dev/null)" in running|degraded) return 0 ;; *) return 1 ;; esac; }

for _ in $(seq 150); do system_up && break; sleep 0.2; done
system_up || { ct systemctl --failed --no-pager || true; pkg_fail "the container did not reach running"; }
pkg_info "container up: $(ct systemctl is-system-running)"

# ---- 4. install and use ---------------------------------------------------------------------

pkg_info "apt-get install /var/tmp/pkg/$(basename "$DEB")"
ct apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "/var/tmp/pkg/$(basename "$DEB")" \
        >"$PKG_TMP/install.log" 2>&1 || { tail -n 30 "$PKG_TMP/install.log" >&2; pkg_fail "apt-get install failed"; }
FILES=$(ct dpkg-query -L cuttlefish-host-resources)

unit_active() { [ "$(ct systemctl is-active "$UNIT" 2>/dev/null)" = active ]; }
wait_active() {
        local tries=150
        until unit_active; do
                (( tries-- > 0 )) || { ct systemctl status --no-pager "$UNIT" >&2 || true
                        ct journalctl -u "$UNIT" --no-pager -n 40 >&2 || true; pkg_fail "$UNIT is not active"; }
                sleep 0.2
        done
}
wait_active
[ "$(ct systemctl is-enabled "$UNIT")" = enabled ] || pkg_fail "$UNIT is not enabled after installation"
ct getent group cvdnetwork >/dev/null || pkg_fail "group cvdnetwork was not created"
for d in /run/cuttlefish-host-resources /var/lib/cuttlefish-host-resources; do
        ct test -d "$d" || pkg_fail "$d missing after installation"
done
pkg_info "$UNIT active and enabled, group cvdnetwork created"

ct systemd-analyze verify --man=no "$UNIT" >"$PKG_TMP/verify.log" 2>&1 ||
        { cat "$PKG_TMP/verify.log" >&2; pkg_fail "systemd-analyze verify $UNIT"; }
[ -s "$PKG_TMP/verify.log" ] && { cat "$PKG_TMP/verify.log" >&2; pkg_fail "systemd-analyze verify printed warnings"; }
ct systemd-analyze security --no-pager "$UNIT" >"$PKG_TMP/security.log" 2>&1 || true
pkg_info "systemd-analyze verify: clean; security: $(grep -a 'Overall exposure level' "$PKG_TMP/security.log" | sed 's/.*: //')"
[ -n "${CF_PKG_SECURITY_OUT:-}" ] && cp "$PKG_TMP/security.log" "$CF_PKG_SECURITY_OUT"

reply=$(ct busctl call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager ListInstances) || pkg_fail "busctl ListInstances"
[ "$reply" = "a(uusso) 0" ] || pkg_fail "ListInstances answered '$reply', expected no instances"
pkg_info "busctl ListInstances: $reply"

# The network comes up right after READY: wait for it, then check the 10 default slots.
network_up() { [ "$(ct busctl get-property org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager NetworkState)" = 's "up"' ]; }
for _ in $(seq 100); do network_up && break; sleep 0.2; done
network_up || { ct cfctl network status >&2 || true; pkg_fail "network is not up"; }
ct cfctl network status >"$PKG_TMP/network.txt" || pkg_fail "cfctl network status"
grep -q '^10 slots listed' "$PKG_TMP/network.txt" || { cat "$PKG_TMP/network.txt" >&2; pkg_fail "cfctl network status does not show 10 slots"; }
links=$(ct ip -o link show | grep -c ': cvd-' || true)
[ "$links" = 42 ] || pkg_fail "expected 42 cvd-* links (2 bridges, 40 taps), found $links"
ct nft list tables | grep -q "$NFT_TABLE" || pkg_fail "nft table $NFT_TABLE missing"
pkg_info "cfctl network status: 10 slots, 42 cvd-* links, nft table $NFT_TABLE"

# A member of cvdnetwork boots the demo guest, with a disk image in its (read-only to the
# service: ProtectHome=read-only) home directory that QEMU opens for writing.
ct useradd -m -s /bin/sh cfuser
ct usermod -aG cvdnetwork cfuser
ct_user truncate -s 1M /home/cfuser/disk.img
pkg_info "cfuser: cfctl start --wait (demo guest, TCG)"
number=$(ct_user cfctl start --wait --kernel=/var/lib/demo/vmlinuz --initrd=/var/lib/demo/initramfs.cpio.gz \
        --cmdline="console=ttyS0 quiet" --memory-mb=256 --cpus=1 --boot-marker=CF-BOOTED --boot-timeout-sec=120 \
        --stop-timeout-sec=2 --disk=/home/cfuser/disk.img 2>"$PKG_TMP/start.log" | tail -n 1) ||
        { cat "$PKG_TMP/start.log" >&2; ct journalctl -u "$UNIT" --no-pager -n 30 >&2 || true; pkg_fail "cfctl start --wait"; }
# (The pipe hides cfctl's status: no number means it failed.)
[ -n "$number" ] || { cat "$PKG_TMP/start.log" >&2; ct journalctl -u "$UNIT" --no-pager -n 30 >&2 || true; pkg_fail "cfctl start --wait printed no instance number"; }
instance() { ct cfctl --json=short list | jq -c ".[] | select(.number == $number)"; }
inst=$(instance)
[ "$(jq -r .state <<<"$inst")" = running ] && [ "$(jq -r .booted <<<"$inst")" = true ] ||
        pkg_fail "instance $number is not running and booted: $inst"
VMM=$(jq -r .pid <<<"$inst")
pkg_info "instance $number booted (VMM pid $VMM in the container, cgroup $(ct cat "/proc/$VMM/cgroup" | grep -m1 -E '^0::|memory' || true))"
# Under systemd the VMM runs in a transient scope of its own, outside the service's cgroup.
SCOPE="cuttlefish-instance-$number-$VMM.scope"
ct systemctl is-active -q "$SCOPE" || { ct systemctl list-units --no-pager 'cuttlefish-instance-*' >&2 || true; pkg_fail "VMM not in its scope $SCOPE"; }
ct grep -q "$SCOPE" "/proc/$VMM/cgroup" || pkg_fail "VMM pid $VMM is not in $SCOPE: $(ct cat "/proc/$VMM/cgroup")"
pkg_info "VMM in its transient scope $SCOPE"

ct systemctl restart "$UNIT"
wait_active
inst=$(instance)
[ "$(jq -r .pid <<<"$inst")" = "$VMM" ] && [ "$(jq -r .state <<<"$inst")" = running ] ||
        pkg_fail "after systemctl restart the instance is not the same running VMM: $inst"
ct kill -0 "$VMM" || pkg_fail "VMM pid $VMM is gone after the restart"
ct systemctl is-active -q "$SCOPE" || pkg_fail "scope $SCOPE gone after the restart"
pkg_info "systemctl restart: instance $number re-adopted, same VMM pid"

# Warnings the service logged so far (the hardening must not make anything fail quietly).
ct journalctl -u "$UNIT" -p warning --no-pager -o cat 2>/dev/null | grep -v '^-- ' | sed 's/^/# journal: /' || true

ct_user cfctl rm "$number" || pkg_fail "cfctl rm $number"
[ "$(ct cfctl --json=short list)" = "[]" ] || pkg_fail "instances left after cfctl rm"
scope_gone() { ! ct systemctl is-active -q "$SCOPE"; }
for _ in $(seq 50); do scope_gone && break; sleep 0.1; done
scope_gone || pkg_fail "scope $SCOPE still active after cfctl rm"
ct systemctl stop "$UNIT"
links=$(ct ip -o link show | grep -c ': cvd-' || true)
[ "$links" = 0 ] || pkg_fail "$links cvd-* links left after systemctl stop"
pkg_info "cfctl rm, systemctl stop: no cvd-* link left"

# ---- 5. purge ---------------------------------------------------------------------------

ct userdel -r cfuser 2>/dev/null
ct apt-get -o DPkg::Lock::Timeout=900 purge -y -q cuttlefish-host-resources >"$PKG_TMP/purge.log" 2>&1 ||
        { tail -n 30 "$PKG_TMP/purge.log" >&2; pkg_fail "apt-get purge failed"; }
left=()
while read -r f; do
        [ -n "$f" ] || continue
        # Shared directories (/usr, /etc/default, ...) stay; everything that is ours must go.
        case "$f" in *cuttlefish*|*cfctl*) ;; *) ct test -d "$f" && continue ;; esac
        ct test -e "$f" -o -L "$f" && left+=("$f")
done <<<"$FILES"
for f in /run/cuttlefish-host-resources /var/lib/cuttlefish-host-resources /etc/default/cuttlefish-host-resources \
        /etc/systemd/system/multi-user.target.wants/$UNIT; do
        ct test -e "$f" -o -L "$f" && left+=("$f")
done
[ ${#left[@]} -eq 0 ] || pkg_fail "left after purge: ${left[*]}"
links=$(ct ip -o link show | grep -c ': cvd-' || true)
[ "$links" = 0 ] || pkg_fail "$links cvd-* links left after purge"
ct nft list tables | grep -q "$NFT_TABLE" && pkg_fail "nft table $NFT_TABLE left after purge"
ct getent group cvdnetwork >/dev/null && pkg_fail "group cvdnetwork left after purge"
ct getent passwd cfuser >/dev/null && pkg_fail "user cfuser left"
pkg_info "apt-get purge: no file, link, nft table or group of ours left ($(wc -l <<<"$FILES") paths checked)"

stop_container
pkg_info "container powered off; PASS"
