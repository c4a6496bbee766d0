#!/usr/bin/env bash
# dbus/org.cuttlefish.HostResources1.{Manager,Instance}.xml are the contract: their methods,
# arguments, properties, annotations and signals must equal the live introspection.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

members() { # IFACE; XML on stdin -> one normalised line per member/arg/annotation of IFACE
        tr '\n' ' ' | sed -e 's/>/>\n/g' |
        sed -n "/<interface name=\"$1\"/,/<\/interface>/p" |
        grep -oE '<(method|property|signal|arg|annotation) [^>]*>' |
        sed -e 's/[[:space:]]\+/ /g' -e 's# */\?>$##'
}

cf_write_config "num_cvd_accounts=1"
cf_start_daemon
# An instance that is never started, so its object exists to be introspected.
cfctl start --kernel=/nonexistent --no-start >/dev/null

TOTAL=0
for spec in "Manager /org/cuttlefish/HostResources1" "Instance /org/cuttlefish/HostResources1/instance/1"; do
        set -- $spec
        IFACE=org.cuttlefish.HostResources1.$1
        LIVE=$(busctl --system introspect --xml-interface org.cuttlefish.HostResources1 "$2" | members "$IFACE")
        FILE=$(members "$IFACE" < "$CF_SRC_DIR/dbus/$IFACE.xml")
        [ -n "$LIVE" ] || cf_fail "no live introspection of $IFACE"
        [ -n "$FILE" ] || cf_fail "nothing parsed from dbus/$IFACE.xml"
        if [ "$LIVE" != "$FILE" ]; then
                diff <(echo "$FILE") <(echo "$LIVE") >&2 || true
                cf_fail "dbus/$IFACE.xml differs from the live introspection (< file, > live)"
        fi
        TOTAL=$(( TOTAL + $(echo "$LIVE" | wc -l) ))
done
# The object manager sits on the root and lists the instance.
busctl --system introspect org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 |
        grep -q org.freedesktop.DBus.ObjectManager || cf_fail "no ObjectManager on the root"
busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.freedesktop.DBus.ObjectManager GetManagedObjects | grep -q "instance/1" || cf_fail "instance not managed"
echo "PASS ($TOTAL members, arguments and annotations match)"
