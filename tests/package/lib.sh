# shellcheck shell=bash
# Helpers for the package suite: a scratch directory under /var/tmp that the EXIT trap removes,
# a copy of the source tree to build from (never the tree itself), progress lines with times.
#
# Needs: CF_SRC_DIR (meson sets it; default: this checkout). Exit 77 = skip.

# No pipefail, as in tests/helpers/lib.sh: "cmd | grep -q" would fail on SIGPIPE.
set -eu

CF_SRC_DIR=${CF_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PKG_T0=$(date +%s%N)

pkg_skip() { echo "SKIP: $*"; exit 77; }
pkg_fail() { echo "FAIL: $*" >&2; exit 1; }
# Progress: seconds since the test started, then the message.
pkg_info() { printf '# [%6.1fs] %s\n' "$(( ($(date +%s%N) - PKG_T0) / 1000000 ))e-3" "$*"; }

# Scratch dir: PKG_TMP. pkg_cleanup_hooks run first (in reverse order), then the dir goes.
PKG_CLEANUP_HOOKS=()
pkg_cleanup() {
        local rc=$? i
        set +e
        for (( i=${#PKG_CLEANUP_HOOKS[@]}-1; i>=0; i-- )); do
                ${PKG_CLEANUP_HOOKS[i]}
        done
        if [ -n "${PKG_TMP:-}" ] && [ -d "$PKG_TMP" ]; then
                if [ -n "${CF_KEEP_TMP:-}" ]; then
                        echo "# kept $PKG_TMP (CF_KEEP_TMP)"
                else
                        rm -rf "$PKG_TMP"
                fi
        fi
        exit $rc
}
pkg_setup() {
        [ "$(id -u)" = 0 ] || pkg_skip "needs root"
        PKG_TMP=$(mktemp -d "/var/tmp/cfhr-${1:-pkg}.XXXXXX")
        trap pkg_cleanup EXIT
        # timeout(1) and ^C end a test with a signal: clean up then too.
        trap 'exit 143' TERM
        trap 'exit 130' INT
}

# pkg_copy_source DEST: the checkout's files as they are now (tracked and untracked, not the
# ignored build directories), or the whole tree minus build*/ when it is not a git checkout.
pkg_copy_source() {
        local dest=$1
        mkdir -p "$dest"
        if git -C "$CF_SRC_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
                (cd "$CF_SRC_DIR" && git ls-files -z --cached --others --exclude-standard |
                        xargs -0 -r sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh |
                        xargs -0 -r cp -a --parents -t "$dest")
        else
                (cd "$CF_SRC_DIR" && tar -c --exclude='./build*' --exclude=./.git . | tar -x -C "$dest")
        fi
}

# pkg_need CMD PACKAGE...: fails (not skips) with the command that installs what is missing.
pkg_need() {
        local cmd=$1; shift
        command -v "$cmd" >/dev/null || pkg_fail "$cmd missing: install $* (sudo ./dev.sh deps)"
}
