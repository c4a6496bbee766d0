#!/usr/bin/env bash
# test-rpm.sh: rpm/cuttlefish-host-resources.spec builds, and the rpm is what Fedora expects.
#
# rpmbuild -bb --nodeps in a scratch topdir, from a tarball of a copy of the source tree. Where
# the systemd macros are missing (Debian: TESTING.md (h)) it loads rpm/macros.debian-compat.
# Then, from the built rpm: the file list at Fedora paths (the same files as the .deb, which
# has everything "meson install" installs; rpmbuild itself fails on an installed file that
# %files does not list), the config files, scriptlets that carry real systemctl commands and
# no macro text, and the requirements. rpmlint runs when installed; its output is printed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pkg_setup rpm
pkg_need rpmbuild rpm
NAME=cuttlefish-host-resources
SPEC=$CF_SRC_DIR/rpm/$NAME.spec
VERSION=$(awk '$1 == "Version:" { print $2; exit }' "$SPEC")

TOP=$PKG_TMP/rpmbuild
mkdir -p "$TOP/SOURCES"
pkg_info "copying the source tree into $NAME-$VERSION.tar.gz"
pkg_copy_source "$PKG_TMP/$NAME-$VERSION"
tar -C "$PKG_TMP" -czf "$TOP/SOURCES/$NAME-$VERSION.tar.gz" "$NAME-$VERSION"
cp "$CF_SRC_DIR/systemd/$NAME.sysusers" "$TOP/SOURCES/"

load=()
if [ -z "$(rpm --eval '%{?_unitdir}')" ]; then
        load=(--load="$CF_SRC_DIR/rpm/macros.debian-compat")
        pkg_info "no systemd rpm macros here: loading rpm/macros.debian-compat"
fi
pkg_info "rpmbuild -bb --nodeps"
rpmbuild -bb --nodeps "${load[@]}" --define "_topdir $TOP" "$SPEC" >"$PKG_TMP/rpmbuild.log" 2>&1 ||
        { tail -n 40 "$PKG_TMP/rpmbuild.log" >&2; pkg_fail "rpmbuild failed"; }
RPM=
for f in "$TOP"/RPMS/*/"$NAME-$VERSION"-*.rpm; do
        case "$f" in *-debuginfo-*|*-debugsource-*) ;; *) RPM=$f ;; esac
done
[ -f "$RPM" ] || pkg_fail "no rpm built"
pkg_info "built $(basename "$RPM")"

# Files, at Fedora's paths.
expected=$(sort <<'EOF'
/etc/default/cuttlefish-host-resources
/etc/security/limits.d/cuttlefish-host-resources.conf
/run/cuttlefish-host-resources
/usr/bin/cfctl
/usr/lib/NetworkManager
/usr/lib/NetworkManager/conf.d
/usr/lib/NetworkManager/conf.d/99-cuttlefish-host-resources.conf
/usr/lib/modules-load.d/cuttlefish-host-resources.conf
/usr/lib/systemd/system/cuttlefish-host-resources.service
/usr/lib/sysusers.d/cuttlefish-host-resources.conf
/usr/lib/tmpfiles.d/cuttlefish-host-resources.conf
/usr/lib/udev/rules.d/60-cuttlefish-host-resources.rules
/usr/libexec/cuttlefish-host-resourcesd
/usr/share/dbus-1/interfaces/org.cuttlefish.HostResources1.Instance.xml
/usr/share/dbus-1/interfaces/org.cuttlefish.HostResources1.Manager.xml
/usr/share/dbus-1/system-services/org.cuttlefish.HostResources1.service
/usr/share/dbus-1/system.d/org.cuttlefish.HostResources1.conf
/usr/share/doc/cuttlefish-host-resources
/usr/share/doc/cuttlefish-host-resources/README.md
/usr/share/man/man1/cfctl.1.gz
/usr/share/man/man8/cuttlefish-host-resourcesd.8.gz
/usr/share/polkit-1/actions/org.cuttlefish.hostresources.policy
/usr/share/polkit-1/rules.d/org.cuttlefish.hostresources.rules
/var/lib/cuttlefish-host-resources
EOF
)
# /usr/lib/.build-id links come with every Fedora binary package; they are not ours to list.
actual=$(rpm -qlp "$RPM" | grep -v '^/usr/lib/\.build-id' | sort)
if [ "$actual" != "$expected" ]; then
        diff <(echo "$expected") <(echo "$actual") >&2 || true
        pkg_fail "rpm -qlp differs from the expected file list (< expected, > rpm)"
fi
config=$(rpm -qcp "$RPM" | sort | tr '\n' ' ')
[ "$config" = "/etc/default/cuttlefish-host-resources /etc/security/limits.d/cuttlefish-host-resources.conf " ] ||
        pkg_fail "config files: $config"
pkg_info "rpm -qlp: the $(wc -l <<<"$expected") expected paths; config: $config"

# The unit, as installed: the daemon at Fedora's libexecdir.
mkdir -p "$PKG_TMP/x"
(cd "$PKG_TMP/x" && rpm2cpio "$RPM" | cpio -id --quiet)
grep -qx 'ExecStart=/usr/libexec/cuttlefish-host-resourcesd' "$PKG_TMP/x/usr/lib/systemd/system/$NAME.service" ||
        pkg_fail "ExecStart= of the packaged unit"

# Scriptlets: real commands, no macro left unexpanded (rpm copies those verbatim).
scripts=$(rpm -qp --scripts "$RPM")
printf '%s\n' "$scripts" >"$PKG_TMP/scripts.txt"
for want in "groupadd -r cvdnetwork" \
        "systemctl --no-reload preset cuttlefish-host-resources.service" \
        "systemd-tmpfiles --create /usr/lib/tmpfiles.d/cuttlefish-host-resources.conf" \
        "systemctl --no-reload disable --now cuttlefish-host-resources.service" \
        "systemctl try-restart cuttlefish-host-resources.service" \
        "rm -rf /run/cuttlefish-host-resources /var/lib/cuttlefish-host-resources"; do
        grep -qF -- "$want" <<<"$scripts" || { cat "$PKG_TMP/scripts.txt" >&2; pkg_fail "scriptlets lack: $want"; }
done
for scriptlet in preinstall postinstall preuninstall postuninstall; do
        grep -q "^$scriptlet scriptlet" <<<"$scripts" || pkg_fail "no $scriptlet scriptlet"
done
if grep -n '%[{a-z_]' <<<"$scripts" >&2; then
        pkg_fail "unexpanded macros in the scriptlets (above)"
fi
pkg_info "scriptlets: groupadd, systemctl preset / disable --now / try-restart, tmpfiles; no macro text"

# Requirements: what the daemon executes and links, the scriptlets' tools; nothing unexpanded.
requires=$(rpm -qp --requires "$RPM")
printf '%s\n' "$requires" >"$PKG_TMP/requires.txt"
for want in dbus dnsmasq /usr/bin/kill 'libsystemd.so.0()(64bit)' 'libnl-route-3.so.200()(64bit)' \
        'libnftables.so.1()(64bit)' 'libjson-c.so.5()(64bit)' 'libseccomp.so.2()(64bit)'; do
        grep -qxF -- "$want" <<<"$requires" || grep -qF -- "$want" <<<"$requires" ||
                { cat "$PKG_TMP/requires.txt" >&2; pkg_fail "Requires lack $want"; }
done
grep -q '%' <<<"$requires" && { cat "$PKG_TMP/requires.txt" >&2; pkg_fail "unexpanded macro in Requires"; }
[ "$(rpm -qp --recommends "$RPM")" = polkit ] || pkg_fail "Recommends: $(rpm -qp --recommends "$RPM")"
pkg_info "requires: $(grep -v '^rpmlib(' <<<"$requires" | tr '\n' ' ')"

if command -v rpmlint >/dev/null; then
        rpmlint "$RPM" >"$PKG_TMP/rpmlint.log" 2>&1 || true
        sed 's/^/# rpmlint: /' "$PKG_TMP/rpmlint.log"
fi
pkg_info "PASS"
