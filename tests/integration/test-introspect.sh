#!/usr/bin/env bash
# dbus/org.cuttlefish.HostResources1.Manager.xml is the contract: its methods, arguments,
# properties and signals must equal the live introspection of the running daemon.
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"

IFACE=org.cuttlefish.HostResources1.Manager
members() { # XML on stdin -> one normalised line per member/arg of $IFACE
        tr '\n' ' ' | sed -e 's/>/>\n/g' |
        sed -n "/<interface name=\"$IFACE\"/,/<\/interface>/p" |
        grep -oE '<(method|property|signal|arg) [^>]*>' |
        sed -e 's/[[:space:]]\+/ /g' -e 's# */\?>$##'
}

cf_write_config "num_cvd_accounts=1"
cf_start_daemon
LIVE=$(busctl --system introspect --xml-interface org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 | members)
FILE=$(members < "$CF_SRC_DIR/dbus/$IFACE.xml")
[ -n "$LIVE" ] || cf_fail "no live introspection"
[ -n "$FILE" ] || cf_fail "nothing parsed from dbus/$IFACE.xml"
if [ "$LIVE" != "$FILE" ]; then
        diff <(echo "$FILE") <(echo "$LIVE") >&2 || true
        cf_fail "dbus/$IFACE.xml differs from the live introspection (< file, > live)"
fi
# The object manager sits on the root.
busctl --system introspect org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 |
        grep -q org.freedesktop.DBus.ObjectManager || cf_fail "no ObjectManager on the root"
echo "PASS ($(echo "$LIVE" | wc -l) members and arguments match)"
