#!/usr/bin/env bash
# dev.sh: everything a developer or CI needs, on Debian/Ubuntu (apt) or CentOS Stream/Fedora (dnf).
#
#   ./dev.sh run     install dependencies, build, start the daemon and bring the network up
#   ./dev.sh test    install dependencies, build, run every test suite
#   ./dev.sh stop    stop what 'run' started
#   ./dev.sh fuzz [SECONDS]   long libFuzzer runs of every parser (clang; see bench/fuzz.sh)
#   ./dev.sh deps | build | bench
#
# It acts on the network namespace it runs in. To try it on a shared machine without touching the
# host's network: sudo unshare --net --mount ./dev.sh run
set -euo pipefail
cd "$(dirname "$0")"
SRC=$PWD
BUILD=${BUILD_DIR:-$SRC/build}
DEV_DIR=${CF_DEV_DIR:-/run/cuttlefish-host-resources-dev}
UNIT=cuttlefish-host-resources-dev

if [ "$(id -u)" != 0 ]; then
        echo "dev.sh needs root (it installs packages and configures networking); re-running with sudo." >&2
        exec sudo --preserve-env=CI,BUILD_DIR,CF_DEV_DIR "$0" "$@"
fi

APT_PACKAGES=(
        # build
        gcc meson ninja-build pkg-config libsystemd-dev libnl-3-dev libnl-route-3-dev libnftables-dev libjson-c-dev
        libseccomp-dev libfdt-dev libvirglrenderer-dev
        # runtime (libegl1, libegl-mesa0, libgl1-mesa-dri: the EGL and llvmpipe the drm_virgl probe needs;
        # libvirglrenderer1 does not pull them in)
        dbus polkitd dnsmasq-base nftables iproute2 passwd libegl1 libegl-mesa0 libgl1-mesa-dri
        # tests (busctl comes with the systemd package, which does not become PID 1 by being installed)
        systemd jq busybox-static procps util-linux valgrind
        # test guests (tests/guest): QEMU under TCG, the distribution kernel (installed with INITRD=No,
        # see deps), busybox-static and cpio for the guest's own initramfs
        qemu-system-x86 linux-image-amd64 cpio
        # qemu-img: the instances' overlays over shared images (CreateInstance option images)
        qemu-utils
        # packaging (suite package): the .deb and its lint, a Debian 12 root booted in systemd-nspawn,
        # the .rpm built with rpmbuild and inspected (rpm2cpio), rpmlint
        debhelper dpkg-dev fakeroot lintian debootstrap systemd-container rpm rpm2cpio rpmlint
)
DNF_PACKAGES=(
        gcc meson ninja-build pkgconf-pkg-config systemd-devel libnl3-devel nftables-devel json-c-devel
        libseccomp-devel libfdt-devel virglrenderer-devel
        dbus-daemon polkit dnsmasq nftables iproute shadow-utils systemd mesa-libEGL mesa-dri-drivers
        jq busybox procps-ng util-linux valgrind libasan libubsan
        qemu-system-x86-core qemu-img kernel-core cpio
        # packaging (suite package): rpmbuild with the real systemd macros (the .deb test needs a Debian host)
        rpm-build systemd-rpm-macros
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

deps() {
        if command -v apt-get >/dev/null; then
                local missing=()
                for p in "${APT_PACKAGES[@]}"; do
                        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
                done
                if [ ${#missing[@]} -gt 0 ]; then
                        log "Installing ${missing[*]}"
                        apt-get -o DPkg::Lock::Timeout=900 update -q
                        # INITRD=No: the kernel package skips building its 31 MB initramfs (about 130 s);
                        # test guests boot with tests/guest/mkinitramfs.sh's image. Harmless for the rest.
                        INITRD=No DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
                                --no-install-recommends "${missing[@]}"
                fi
        elif command -v dnf >/dev/null; then
                rpm -q "${DNF_PACKAGES[@]}" >/dev/null 2>&1 || { log "Installing packages"; dnf install -y "${DNF_PACKAGES[@]}"; }
        else
                echo "Neither apt-get nor dnf found: install the packages listed in dev.sh by hand." >&2
                exit 1
        fi
        # Taps are created with group cvdnetwork, as the package's sysusers.d entry provides.
        getent group cvdnetwork >/dev/null || { log "Creating group cvdnetwork"; groupadd --system cvdnetwork; }
}

build() {
        local opts=()
        [ "${CI:-}" = true ] && opts+=(-Dwerror=true)
        if [ ! -f "$BUILD/build.ninja" ]; then
                log "Configuring $BUILD"
                # The paths the daemon reads by default: /etc/default/..., /var/lib/...
                meson setup "$BUILD" --prefix=/usr --sysconfdir=/etc --localstatedir=/var "${opts[@]}"
        elif [ ${#opts[@]} -gt 0 ]; then
                meson configure "$BUILD" "${opts[@]}"
        fi
        log "Building"
        ninja -C "$BUILD"
}

# The sanitizer variant: the same sources with ASan and UBSan, for the suites that run our code
# in-process (tests/helpers/lib.sh turns any report into a failure).
BUILD_ASAN=${BUILD_ASAN_DIR:-$SRC/build-asan}

build_asan() {
        if [ ! -f "$BUILD_ASAN/build.ninja" ]; then
                log "Configuring $BUILD_ASAN (ASan + UBSan)"
                meson setup "$BUILD_ASAN" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
                        -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
        fi
        ninja -C "$BUILD_ASAN" >/dev/null
}

# meson test, then one plain closing line for whoever reads only the end: "N passed, ...".
run_suites() {
        local dir=$1 logbase=$2 rc=0; shift 2
        meson test -C "$dir" --logbase "$logbase" "$@" --print-errorlogs --num-processes 2 || rc=$?
        # (With --wrapper, meson adds the wrapper's name to the log's name.)
        jq -r .result "$(ls -t "$dir/meson-logs/$logbase"*.json | head -n 1)" | awk '
                /^(OK|EXPECTEDFAIL)$/ {p++} /^(FAIL|TIMEOUT|UNEXPECTEDPASS|ERROR)$/ {f++} /^SKIP$/ {s++}
                END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' | tee -a "$BUILD/test-summary"
        return $rc
}

run_tests() {
        local rc=0
        : > "$BUILD/test-summary"
        log "Running suites unit, netns, integration, fuzz, e2e, security, faults, load"
        run_suites "$BUILD" testlog --suite unit --suite netns --suite integration --suite fuzz --suite e2e --suite security --suite faults --suite load || rc=1

        log "Running suites unit, netns, integration, fuzz under ASan + UBSan ($BUILD_ASAN)"
        build_asan
        # UBSan reports fail the C tests too (the shell tests set their own options in lib.sh).
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
                run_suites "$BUILD_ASAN" testlog --suite unit --suite netns --suite integration --suite fuzz || rc=1

        if command -v valgrind >/dev/null; then
                log "Running suite unit under valgrind (leaks are errors)"
                run_suites "$BUILD" testlog-valgrind --suite unit \
                        --wrapper "valgrind --quiet --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect" || rc=1
        fi
        log "Running suite package (the .deb in a systemd-nspawn container, the .rpm)"
        run_suites "$BUILD" testlog-package --suite package || rc=1

        # The closing line sums the runs above.
        awk '{p+=$1; f+=$3; s+=$5} END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' "$BUILD/test-summary"
        return $rc
}

pid_running() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# The demo guest: the distribution's kernel and a busybox initramfs that takes a DHCP lease from
# the daemon's dnsmasq and prints CF-BOOTED (tests/guest). Outside /tmp: the VMM's /tmp is private.
run_demo_instance() {
        local img_dir=$DEV_DIR/images kernel
        kernel=$("$SRC/tests/guest/kernel.sh") || { log "No kernel image installed: skipping the demo instance"; return 0; }
        mkdir -p "$img_dir"
        "$SRC/tests/guest/mkinitramfs.sh" "$img_dir/demo-initramfs.cpio.gz" >/dev/null
        log "Booting a demo instance (QEMU; under TCG this takes about 10 s)"
        "$BUILD/cfctl/cfctl" start --wait --kernel="$kernel" --initrd="$img_dir/demo-initramfs.cpio.gz" \
                --cmdline="console=ttyS0 quiet" --memory-mb=256 --cpus=1 --boot-marker=CF-BOOTED --boot-timeout-sec=120 \
                --stop-timeout-sec=2 || log "The demo instance did not boot; see '$BUILD/cfctl/cfctl logs 1'"
        "$BUILD/cfctl/cfctl" list
}

run_daemon() {
        [ -f /etc/default/cuttlefish-host-resources ] || log "No /etc/default/cuttlefish-host-resources: using defaults (10 slots)"
        if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ "$(readlink /proc/1/ns/net)" = "$(readlink /proc/self/ns/net)" ]; then
                log "Starting $UNIT.service under systemd"
                install -m 0644 dbus/org.cuttlefish.HostResources1.conf /etc/dbus-1/system.d/
                systemctl reload dbus 2>/dev/null || true
                systemd-run --unit="$UNIT" --property=Type=notify --property=KillMode=process \
                        --property=ExecReload="/bin/kill -HUP \$MAINPID" \
                        "$BUILD/cuttlefish-host-resourcesd" --runtime-dir="$DEV_DIR/run" --state-dir="$DEV_DIR/state"
                "$BUILD/cfctl/cfctl" network status | head -n 8
                run_demo_instance
                cat <<TXT

The service runs as $UNIT.service on the system bus.
  $BUILD/cfctl/cfctl network status
  journalctl -u $UNIT
Stop it with: sudo ./dev.sh stop
TXT
                return
        fi

        # No systemd here (or a private network namespace): a private bus and the daemon in the background.
        source "$SRC/tests/helpers/privbus.sh"
        mkdir -p "$DEV_DIR"
        if pid_running "$(cat "$DEV_DIR/daemon.pid" 2>/dev/null)"; then
                echo "Already running (pid $(cat "$DEV_DIR/daemon.pid")). Stop it first: sudo ./dev.sh stop" >&2
                exit 1
        fi
        log "Starting a private system bus in $DEV_DIR/bus"
        privbus_start "$DEV_DIR/bus" "$SRC/dbus/org.cuttlefish.HostResources1.conf" || { cat "$DEV_DIR/bus/log" >&2; exit 1; }
        echo "$PRIVBUS_PID" > "$DEV_DIR/bus.pid"
        export DBUS_SYSTEM_BUS_ADDRESS=$PRIVBUS_ADDRESS

        log "Starting cuttlefish-host-resourcesd (log: $DEV_DIR/daemon.log)"
        setsid "$BUILD/cuttlefish-host-resourcesd" --runtime-dir="$DEV_DIR/run" --state-dir="$DEV_DIR/state" \
                </dev/null >"$DEV_DIR/daemon.log" 2>&1 &
        echo $! > "$DEV_DIR/daemon.pid"
        local tries=100 state=""
        while (( tries-- > 0 )); do
                state=$(busctl --system get-property org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
                        org.cuttlefish.HostResources1.Manager NetworkState 2>/dev/null || true)
                case "$state" in *up*|*degraded*|*failed*) break ;; esac
                pid_running "$(cat "$DEV_DIR/daemon.pid")" || { cat "$DEV_DIR/daemon.log" >&2; exit 1; }
                sleep 0.1
        done
        "$BUILD/cfctl/cfctl" network status | head -n 8
        run_demo_instance
        cat <<TXT

cuttlefish-host-resourcesd runs in the background (pid $(cat "$DEV_DIR/daemon.pid")) on a private bus.
  export DBUS_SYSTEM_BUS_ADDRESS=$PRIVBUS_ADDRESS
  $BUILD/cfctl/cfctl network status
  busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 org.cuttlefish.HostResources1.Manager DescribeNetwork
Its network lives in the namespace dev.sh ran in; from another shell enter it with:
  sudo nsenter -t $(cat "$DEV_DIR/daemon.pid") -n -m
Log: $DEV_DIR/daemon.log
Stop it (instances and the network are removed): sudo ./dev.sh stop
TXT
}

stop() {
        # Instances first: VMMs outlive the daemon by design.
        if [ -S "$DEV_DIR/bus/socket" ]; then
                DBUS_SYSTEM_BUS_ADDRESS=unix:path=$DEV_DIR/bus/socket "$BUILD/cfctl/cfctl" --json=short list 2>/dev/null |
                        jq -r '.[].number' 2>/dev/null | while read -r n; do
                        DBUS_SYSTEM_BUS_ADDRESS=unix:path=$DEV_DIR/bus/socket "$BUILD/cfctl/cfctl" rm "$n" && log "Removed instance $n"
                done
        elif [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && systemctl is-active -q "$UNIT" 2>/dev/null; then
                "$BUILD/cfctl/cfctl" --json=short list 2>/dev/null | jq -r '.[].number' | while read -r n; do
                        "$BUILD/cfctl/cfctl" rm "$n" && log "Removed instance $n"
                done
        fi
        if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && systemctl is-active -q "$UNIT" 2>/dev/null; then
                systemctl stop "$UNIT"
                log "Stopped $UNIT.service"
        fi
        local f pid
        for f in daemon bus; do
                pid=$(cat "$DEV_DIR/$f.pid" 2>/dev/null || true)
                if pid_running "$pid"; then
                        kill "$pid"
                        for _ in $(seq 100); do pid_running "$pid" || break; sleep 0.1; done
                        log "Stopped $f (pid $pid)"
                fi
                rm -f "$DEV_DIR/$f.pid"
        done
        rm -rf "${DEV_DIR:?}/bus" "${DEV_DIR:?}/run" "${DEV_DIR:?}/images"
        [ -f "$DEV_DIR/daemon.log" ] && log "Log kept in $DEV_DIR/daemon.log"
        return 0
}

bench() {
        deps
        build
        "$SRC/bench/network.sh" "$@"
}

case "${1:-}" in
        deps) deps ;;
        build) deps; build ;;
        test) deps; build; run_tests ;;
        run) deps; build; run_daemon ;;
        stop) stop ;;
        bench) shift; bench "$@" ;;
        fuzz) shift; deps
              if command -v apt-get >/dev/null; then
                      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends clang libclang-rt-dev >/dev/null
              else
                      dnf install -y clang compiler-rt >/dev/null
              fi
              "$SRC/bench/fuzz.sh" "$@" ;;
        *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; [ -z "${1:-}" ] || exit 2 ;;
esac
