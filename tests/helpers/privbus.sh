# shellcheck shell=bash
# privbus_start DIR POLICY_FILE: starts a private "system" dbus-daemon listening on DIR/socket,
# with the distribution's system.d (polkit's policy lives there) plus POLICY_FILE. Prints nothing;
# sets PRIVBUS_PID and PRIVBUS_ADDRESS. Recipe: TESTING.md (b).
privbus_start() {
        local dir=$1 policy=$2 tries=200
        mkdir -p "$dir/system.d"
        cp "$policy" "$dir/system.d/"
        sed -e "s#<listen>[^<]*</listen>#<listen>unix:path=$dir/socket</listen>#" \
            -e "s#<pidfile>[^<]*</pidfile>##" \
            -e "s#<includedir>system.d</includedir>#<includedir>/usr/share/dbus-1/system.d</includedir><includedir>$dir/system.d</includedir>#" \
            -e '/<fork\/>/d' -e '/<standard_system_servicedirs\/>/d' -e '/<servicehelper>/d' \
            /usr/share/dbus-1/system.conf > "$dir/system.conf"
        rm -f "$dir/socket"
        setsid dbus-daemon --config-file="$dir/system.conf" --nofork --nopidfile </dev/null >"$dir/log" 2>&1 &
        PRIVBUS_PID=$!
        while [ ! -S "$dir/socket" ] && (( tries-- > 0 )); do
                kill -0 "$PRIVBUS_PID" 2>/dev/null || return 1
                sleep 0.05
        done
        [ -S "$dir/socket" ] || return 1
        PRIVBUS_ADDRESS=unix:path=$dir/socket
}
