# shellcheck shell=bash
# Helpers for integration tests. Each test re-executes itself inside a fresh network and mount
# namespace (unshare --net --mount), starts a private dbus-daemon there, and runs the daemon
# against it. Nothing touches the machine's own network namespace; everything a test starts is
# stopped by pid in the EXIT trap, and the namespace dies with the test.
#
# Needs: CF_BUILD_DIR (meson sets it), root. Exit 77 = skip.

# No pipefail: "cmd | grep -q" would fail whenever grep exits before cmd has written everything
# (SIGPIPE). Every check below tests what the pipeline printed.
set -eu

CF_SRC_DIR=${CF_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CF_BUILD_DIR=${CF_BUILD_DIR:-$CF_SRC_DIR/build}
DAEMON=$CF_BUILD_DIR/cuttlefish-host-resourcesd
CFCTL=$CF_BUILD_DIR/cfctl/cfctl
GROUP=3312
# shellcheck source=privbus.sh
source "$CF_SRC_DIR/tests/helpers/privbus.sh"

cf_skip() { echo "SKIP: $*"; exit 77; }
cf_fail() { echo "FAIL: $*" >&2; [ -n "${CF_TMP:-}" ] && [ -f "$CF_TMP/daemon.log" ] && { echo "--- daemon log:" >&2; tail -n 40 "$CF_TMP/daemon.log" >&2; }; exit 1; }
cf_info() { echo "# $*"; }

# Re-executes the calling script in its own network + mount namespace.
cf_enter_namespace() {
        [ "$(id -u)" = 0 ] || cf_skip "needs root"
        if [ -z "${CF_IN_TEST_NS:-}" ]; then
                command -v unshare >/dev/null || cf_skip "unshare missing"
                CF_IN_TEST_NS=1 exec unshare --net --mount --propagation private -- "$BASH" ${CF_TRACE:+-x} "$0" "$@"
        fi
}

CF_PIDS=()
cf_cleanup() {
        local rc=$?
        set +e
        # Reverse start order: daemon (it stops its dnsmasq), helpers, then the bus.
        for (( i=${#CF_PIDS[@]}-1; i>=0; i-- )); do
                kill "${CF_PIDS[i]}" 2>/dev/null && cf_wait_gone "${CF_PIDS[i]}" 50
        done
        cf_remove_files
        # VMMs outlive the daemon by design (a daemon restart must not disturb guests): stop the
        # ones this test caused, found by their runtime directory inside the test's own dir.
        local p
        for p in $(cf_vmm_pids); do
                kill -9 "$p" 2>/dev/null
        done
        # dnsmasq children a killed daemon (or one stopped with guests running) left, found by
        # their pid records and by their config file's path (the records may sit under a mount
        # the test made over the runtime dir).
        for f in "$CF_TMP"/run/dnsmasq-*.pid; do
                [ -f "$f" ] && kill "$(cut -d' ' -f1 "$f")" 2>/dev/null
        done
        for p in $(grep -l -a -s -e "$CF_TMP/ru[n]/dnsmasq-" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
                kill "$p" 2>/dev/null
        done
        cf_cleanup_cgroups
        cf_check_sanitizers || rc=1
        # Mounts a test made under its scratch dir (tmpfs for full or read-only directories), deepest
        # first, so the directory itself can go.
        if [ -n "${CF_TMP:-}" ]; then
                awk -v d="$CF_TMP/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
                        while read -r mp; do umount -l "$mp"; done
        fi
        # CF_KEEP_LOGS=DIR keeps this run's logs (daemon, bus, polkitd, ...) for a post-mortem.
        [ -n "${CF_KEEP_LOGS:-}" ] && mkdir -p "$CF_KEEP_LOGS" && cp "$CF_TMP"/*.log "$CF_KEEP_LOGS"/ 2>/dev/null
        [ -n "${CF_TMP:-}" ] && rm -rf "$CF_TMP"
        exit $rc
}

# The daemon's cgroup subtree for this test's runtime dir (daemon/manager.c names it so), in every
# hierarchy of the machine, seen through the mount namespace of the test's parent (the test runner,
# outside the namespace cf_enter_namespace made): a test may have mounted another layout over
# /sys/fs/cgroup in its own. Whatever a failed test left in it is killed - it is in
# this test's cgroups, so this test caused it - and the directories are removed.
cf_cgroup_subtree() { echo "cuttlefish-host-resources-$(systemd-escape --path "$CF_TMP/run")"; }
cf_cleanup_cgroups() {
        local sub root d leaf p tries
        [ -n "${CF_TMP:-}" ] || return 0
        sub=$(cf_cgroup_subtree)
        root=/proc/$PPID/root/sys/fs/cgroup
        [ -d "$root" ] || root=/sys/fs/cgroup
        for d in "$root/$sub" "$root"/*/"$sub"; do
                [ -d "$d" ] || continue
                for leaf in "$d"/*/; do
                        [ -f "$leaf/cgroup.procs" ] || continue
                        for p in $(cat "$leaf/cgroup.procs"); do kill -9 "$p" 2>/dev/null; done
                        tries=50
                        until rmdir "$leaf" 2>/dev/null || (( tries-- == 0 )); do sleep 0.1; done
                done
                # (A v1 parent can be busy a moment after its last child went.)
                tries=50
                until rmdir "$d" 2>/dev/null || (( tries-- == 0 )); do sleep 0.1; done
                [ ! -d "$d" ] || echo "warning: cannot remove $d" >&2
        done
}

# In a sanitizer build (dev.sh test runs the suites in one) every instrumented process this test
# started - the daemon, cfctl, helpers - writes its reports to $CF_TMP/sanitizer.<pid>: any report
# fails the test, even when the process itself exited 0 (a leak found at exit, say).
cf_sanitizer_env() {
        export ASAN_OPTIONS="log_path=$CF_TMP/sanitizer:detect_leaks=1:fast_unwind_on_malloc=0:halt_on_error=1:abort_on_error=0:exitcode=23"
        export UBSAN_OPTIONS="log_path=$CF_TMP/sanitizer:print_stacktrace=1:halt_on_error=1:exitcode=23"
        export LSAN_OPTIONS="suppressions=$CF_SRC_DIR/tests/helpers/lsan.supp:print_suppressions=0"
}

cf_check_sanitizers() {
        local f bad=0
        [ -n "${CF_TMP:-}" ] || return 0
        # UBSan in an ASan build reports to stderr: the daemon's log, say.
        for f in "$CF_TMP"/sanitizer.* "$CF_TMP"/*.log; do
                [ -f "$f" ] && grep -q -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$f" || continue
                echo "--- sanitizer report $f:" >&2
                head -n 60 "$f" >&2
                bad=1
        done
        return $bad
}

# Waits (bounded, in 0.1 s steps) until pid is gone.
cf_wait_gone() {
        local pid=$1 tries=${2:-100}
        while kill -0 "$pid" 2>/dev/null && (( tries-- > 0 )); do
                sleep 0.1
        done
        ! kill -0 "$pid" 2>/dev/null
}

# cf_wait_for SECONDS CMD...: polls CMD until it succeeds or SECONDS pass.
cf_wait_for() {
        local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
        until "$@" >/dev/null 2>&1; do
                (( $(date +%s%N) < deadline )) || return 1
                sleep 0.05
        done
}

cf_setup() {
        cf_enter_namespace "$@"
        [ -x "$DAEMON" ] && [ -x "$CFCTL" ] || cf_fail "build first: $DAEMON / $CFCTL missing"
        command -v dbus-daemon >/dev/null || cf_skip "dbus-daemon missing"
        command -v jq >/dev/null || cf_skip "jq missing"
        # Not under /tmp: a VMM sees a private /tmp, and the guest image must be visible to it.
        CF_TMP=$(mktemp -d /var/tmp/cfhr-test.XXXXXX)
        chmod 755 "$CF_TMP"
        cf_sanitizer_env
        trap cf_cleanup EXIT
        # timeout(1) and ^C end a test with a signal: clean up then too.
        trap 'exit 143' TERM
        trap 'exit 130' INT
        ip link set lo up
        cf_start_bus
}

cf_start_bus() {
        privbus_start "$CF_TMP/bus" "$CF_SRC_DIR/dbus/org.cuttlefish.HostResources1.conf" ||
                cf_fail "private dbus-daemon did not start: $(cat "$CF_TMP/bus/log" 2>/dev/null)"
        CF_PIDS+=("$PRIVBUS_PID")
        export DBUS_SYSTEM_BUS_ADDRESS=$PRIVBUS_ADDRESS
}

# cf_write_config "key=value" ...
cf_write_config() {
        printf '%s\n' "# test config" "$@" > "$CF_TMP/config"
}

# Starts the daemon and waits until it owns its name and the network is up (or failed).
cf_start_daemon() {
        [ -f "$CF_TMP/config" ] || cf_write_config
        "$DAEMON" --config="$CF_TMP/config" --runtime-dir="$CF_TMP/run" --state-dir="$CF_TMP/state" \
                --log-level="${CF_LOG_LEVEL:-info}" "$@" </dev/null >>"$CF_TMP/daemon.log" 2>&1 &
        DAEMON_PID=$!
        CF_PIDS+=("$DAEMON_PID")
        cf_wait_for 15 cf_network_settled || cf_fail "daemon did not come up"
}

cf_network_state() {
        busctl --system get-property org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.cuttlefish.HostResources1.Manager NetworkState 2>/dev/null | sed -e 's/^s "//' -e 's/"$//'
}

cf_network_settled() {
        case "$(cf_network_state)" in up|degraded|failed|down) return 0 ;; *) return 1 ;; esac
}

cf_stop_daemon() {
        kill -TERM "$DAEMON_PID"
        cf_wait_gone "$DAEMON_PID" 100 || cf_fail "daemon did not exit on SIGTERM"
        wait "$DAEMON_PID" 2>/dev/null || true
}

cfctl() { "$CFCTL" "$@"; }
status_json() { "$CFCTL" --json=short network status; }

# Links in our netdev group, sorted names.
our_links() { ip -o link show group "$GROUP" | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }
count_our_links() { our_links | wc -l; }

# pids of dnsmasq processes in this network namespace (dnsmasq drops to another uid).
our_dnsmasq_pids() {
        local me p
        me=$(readlink /proc/self/ns/net)
        for p in $(pgrep -x dnsmasq || true); do
                [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$me" ] && echo "$p"
        done
        return 0
}

assert_eq() { [ "$1" = "$2" ] || cf_fail "${3:-values differ}: expected '$2', got '$1'"; }

# A guest: a veth whose far end lives in its own network namespace with the given MAC.
# Sets GUEST_PID (a process holding the namespace) and GUEST_IF.
cf_add_guest() {
        local bridge=$1 mac=$2 name=${3:-g0} me
        me=$(readlink /proc/self/ns/net)
        unshare --net sleep 3600 </dev/null >/dev/null 2>&1 &
        GUEST_PID=$!
        CF_PIDS+=("$GUEST_PID")
        cf_wait_for 5 bash -c "[ \"\$(readlink /proc/$GUEST_PID/ns/net)\" != '$me' ]" || cf_fail "guest namespace"
        ip link add "$name-b" type veth peer name "$name"
        ip link set "$name-b" master "$bridge" up
        ip link set "$name" address "$mac" netns "$GUEST_PID"
        nsenter -t "$GUEST_PID" -n ip link set lo up
        nsenter -t "$GUEST_PID" -n ip link set "$name" up
        GUEST_IF=$name
        cat > "$CF_TMP/udhcpc.script" <<'EOS'
#!/bin/sh
case "$1" in
bound|renew) ip addr add "$ip/${mask:-24}" dev "$interface" 2>/dev/null; echo "LEASE $ip" ;;
deconfig) ip addr flush dev "$interface" ;;
esac
exit 0
EOS
        chmod +x "$CF_TMP/udhcpc.script"
}

# Runs one DHCP exchange in the guest; prints the leased address.
cf_guest_dhcp() {
        nsenter -t "$GUEST_PID" -n busybox udhcpc -i "$GUEST_IF" -f -q -n -t 10 -T 1 \
                -s "$CF_TMP/udhcpc.script" 2>/dev/null | awk '/^LEASE/ {print $2}' | tail -n 1
}

# True while pid runs (a zombie awaiting its reaper counts as gone).
pid_alive() {
        local st
        st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
        [ -n "$st" ] && [ "$st" != Z ]
}

# Real polkitd on the private bus (TESTING.md (c)). polkitd 122 reads actions and rules only
# from the system directories, so the test installs ours there and removes them in cleanup.
POLKIT_ACTIONS=/usr/share/polkit-1/actions/org.cuttlefish.hostresources.policy
POLKIT_TEST_RULES=/etc/polkit-1/rules.d/49-cfhr-test.rules
cf_start_polkit() {
        local polkitd
        polkitd=$(ls /usr/lib/polkit-1/polkitd /usr/libexec/polkitd 2>/dev/null | head -n 1)
        [ -n "$polkitd" ] || cf_skip "polkitd not installed"
        if ! cmp -s "$CF_SRC_DIR/dbus/org.cuttlefish.hostresources.policy" "$POLKIT_ACTIONS"; then
                [ -e "$POLKIT_ACTIONS" ] && cf_skip "a different $POLKIT_ACTIONS is installed; not replacing it"
                install -m 0644 "$CF_SRC_DIR/dbus/org.cuttlefish.hostresources.policy" "$POLKIT_ACTIONS"
                CF_REMOVE_FILES+=("$POLKIT_ACTIONS")
        fi
        mkdir -p "$(dirname "$POLKIT_TEST_RULES")"
        CF_REMOVE_FILES+=("$POLKIT_TEST_RULES")
        "$polkitd" --no-debug </dev/null >"$CF_TMP/polkitd.log" 2>&1 &
        POLKIT_PID=$!
        CF_PIDS+=("$POLKIT_PID")
        cf_wait_for 10 busctl --system status org.freedesktop.PolicyKit1 || cf_fail "polkitd did not start: $(cat "$CF_TMP/polkitd.log")"
}
cf_stop_polkit() {
        kill "$POLKIT_PID" && cf_wait_gone "$POLKIT_PID" 50 || cf_fail "polkitd did not stop"
}
# cf_allow_create USER...: a test rule lets USERs create instances (as members of cvdnetwork would
# with the shipped rule). Call after cf_start_daemon; returns once polkitd applies it.
cf_allow_create() {
        local u list=""
        for u in "$@"; do list+="\"$u\", "; done
        cat > "$POLKIT_TEST_RULES" <<JS
polkit.addRule(function(action, subject) {
        if (action.id == "org.cuttlefish.hostresources.create-instance" && [${list%, }].indexOf(subject.user) >= 0)
                return polkit.Result.YES;
});
JS
        for u in "$@"; do
                cf_wait_for 10 cf_rule_applies "$u" || cf_fail "polkit did not pick up the test rule for $u"
        done
}
cf_rule_applies() {
        ! setpriv --reuid="$1" --regid="$(id -g "$1")" --clear-groups "$CFCTL" --no-ask-password start \
                --kernel=/nonexistent 2>&1 | grep -q 'needs authentication'
}
CF_REMOVE_FILES=()
cf_remove_files() { local f; for f in "${CF_REMOVE_FILES[@]}"; do rm -f "$f"; done; }

# Runs a command as an unprivileged user (nobody).
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# The demo/test guest (tests/guest): the distribution kernel and a busybox initramfs that takes a
# DHCP lease, prints "LEASE <ip>" and then the boot marker "CF-BOOTED".
cf_build_guest() {
        GUEST_KERNEL=$("$CF_SRC_DIR/tests/guest/kernel.sh") || cf_skip "no kernel image installed"
        command -v qemu-system-x86_64 >/dev/null || cf_skip "qemu-system-x86_64 missing"
        GUEST_INITRD=$CF_TMP/guest.cpio.gz
        "$CF_SRC_DIR/tests/guest/mkinitramfs.sh" "$GUEST_INITRD" >/dev/null || cf_fail "building the guest image"
        chmod 644 "$GUEST_INITRD"
}

# cf_start_guest USER [cfctl start options...]: starts a guest as USER with --wait; prints its number.
cf_start_guest() {
        local user=$1; shift
        setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups "$CFCTL" start --wait --timeout=150 \
                --kernel="$GUEST_KERNEL" --initrd="$GUEST_INITRD" --cmdline="console=ttyS0 quiet ${CF_GUEST_CMDLINE:-}" \
                --memory-mb=256 --cpus=1 --boot-marker=CF-BOOTED --boot-timeout-sec=150 --stop-timeout-sec=2 \
                "$@" 2>>"$CF_TMP/cfctl-start.log" | tail -n 1
}

as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"; }
instance_json() { "$CFCTL" --json=short list | jq -c ".[] | select(.number == $1)"; }
instance_field() { "$CFCTL" --json=short list | jq -r ".[] | select(.number == $1) | .$2"; }

# The VMM processes of this test's instances: their stdout is the console log in their runtime dir
# (QEMU's command line names no path of it: its QMP socket is an fd), or their command line names
# that dir (crosvm, launch_cvd). (A pattern that does not match itself: grep's own command line is
# in /proc too.)
cf_vmm_pids() {
        local p
        {
                grep -l -a -s -e "$CF_TMP/run/instance[s]/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3
                for p in /proc/[0-9]*; do
                        case "$(readlink "$p/fd/1" 2>/dev/null)" in
                        "$CF_TMP"/run/instances/*) echo "${p#/proc/}" ;;
                        esac
                done
        } | sort -nu
}

# cf_assert_consistent [LINKS]: what the daemon says is exactly what the host holds. Every VMM that
# runs belongs to a tracked instance with that pid; every running or suspended instance has one;
# state.json lists the same instances; instance directories and cgroup leaves exist only for
# tracked instances; and, when the network is up, LINKS links in our group, our nft table and one dnsmasq per
# bridge.
cf_describe_host() {
        busctl --system --json=short call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                org.cuttlefish.HostResources1.Manager DescribeHost | jq -r '.data[0]'
}

cf_assert_consistent() {
        local links=${1:-} list tracked actual numbers saved d leaf
        list=$("$CFCTL" --json=short list) || cf_fail "consistency: list failed"
        tracked=$(echo "$list" | jq -r '.[] | select(.pid > 0) | .pid' | sort -n)
        actual=$(cf_vmm_pids)
        [ "$tracked" = "$actual" ] || cf_fail "consistency: VMMs running [$(for p in $actual; do echo "$p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null);"; done)], tracked [$(echo $tracked)]: $list"
        echo "$list" | jq -e 'all(.[]; (.state != "running" and .state != "suspended") or .pid > 0)' >/dev/null ||
                cf_fail "consistency: an active instance without a VMM: $list"
        echo "$list" | jq -e 'all(.[]; .pid == 0 or (.state | IN("starting", "running", "suspended", "stopping")))' >/dev/null ||
                cf_fail "consistency: an inactive instance with a VMM: $list"
        numbers=$(echo "$list" | jq -r '.[].number' | sort -n)
        saved=$(jq -r '.instances[].number' "$CF_TMP/run/state.json" 2>/dev/null | sort -n)
        [ "$numbers" = "$saved" ] || cf_fail "consistency: state.json has [$(echo $saved)], the daemon [$(echo $numbers)]"
        for d in "$CF_TMP"/run/instances/*; do
                [ -e "$d" ] || continue
                echo "$numbers" | grep -qx "${d##*/}" || cf_fail "consistency: $d left for an instance that is gone"
        done
        # Our cgroups: a leaf only for an instance that exists, never a task in a free slot's.
        for d in $(cf_describe_host | jq -r '.cgroup.dirs[]'); do
                for leaf in "$d"/instance-*; do
                        [ -d "$leaf" ] || continue
                        echo "$numbers" | grep -qx "${leaf##*/instance-}" ||
                                cf_fail "consistency: cgroup $leaf left for a slot no instance holds (tasks: $(cat "$leaf/cgroup.procs" | tr '\n' ' '))"
                done
        done
        if [ "$(cf_network_state)" = up ]; then
                # (Taps given back by a removed instance are recreated by the next reconcile.)
                links_are() { [ "$(count_our_links)" = "$1" ]; }
                [ -z "$links" ] || cf_wait_for 10 links_are "$links" || assert_eq "$(count_our_links)" "$links" "consistency: links"
                # Taps given back are renamed aside and deleted by a child of the daemon's.
                recycled_gone() { [ -z "$(ip -o link show group 3313)" ]; }
                cf_wait_for 10 recycled_gone ||
                        cf_fail "consistency: taps given back were never deleted: $(ip -o link show group 3313 | awk -F': ' '{print $2}' | tr '\n' ' ')"
                nft list table inet cuttlefish_host_resources >/dev/null 2>&1 || cf_fail "consistency: nft table missing"
                assert_eq "$(our_dnsmasq_pids | wc -l)" 2 "consistency: dnsmasq children"
        fi
}

# expect_error NAME TEXT CMD...: CMD, a busctl call, must fail with the D-Bus error NAME and a
# message containing TEXT. busctl prints only the message; its debug log shows the reply's
# error-name and error-message.
expect_error() {
        local want_name=$1 want_text=$2 out rc line name msg
        shift 2
        set +e
        out=$(SYSTEMD_LOG_LEVEL=debug "$@" 2>&1)
        rc=$?
        set -e
        [ "$rc" != 0 ] || cf_fail "'$*' succeeded"
        line=$(printf '%s\n' "$out" | grep -m 1 '^Got message type=error ' || true)
        [ -n "$line" ] || cf_fail "'$*' failed without an error reply: $(printf '%s\n' "$out" | tail -n 3)"
        name=$(sed -n 's/.* error-name=\([^ ]*\) error-message=.*/\1/p' <<<"$line")
        msg=${line#* error-message=}
        assert_eq "$name" "$want_name" "error name of '$*' ($msg)"
        [[ "$msg" == *"$want_text"* ]] || cf_fail "message of '$*' lacks '$want_text': $msg"
}
