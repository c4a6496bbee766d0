#!/usr/bin/env bash
# Limits one caller runs into, and caller paths the VMM cannot see, with real polkitd:
#  - calls waiting for polkit are capped per connection (AUTH_QUERIES_PER_CALLER_MAX, 32): with
#    polkitd stopped (SIGSTOP), so that every check hangs, one connection's 33rd call is
#    LimitsExceeded naming the limit, while another caller's call still goes to polkit; once
#    polkitd runs again, every waiting call gets polkit's answer;
#  - past the bus's own limit on calls the daemon may have outstanding (dbus-daemon's
#    max_replies_per_connection, 128 by default), calls are LimitsExceeded too, never a failed
#    authorization check;
#  - kernel, initrd, bios, host_package and images_dir under /tmp or /dev/shm (lexically:
#    "//tmp/x", "/tmp/./x", "/tmp" itself) are InvalidOption at CreateInstance, naming the option
#    and the path; disks there are accepted (the sandbox binds them in).
source "$(dirname "$0")/../helpers/lib.sh"
cf_setup "$@"
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || cf_skip "python3 missing"
cf_start_polkit
# A stopped polkitd would not die in cleanup: resume it first, whatever ends the test (set +e
# there, or "(exit 1)" would end the trap before cf_cleanup, which takes the status from $?).
polkit_resume() { kill -CONT "$POLKIT_PID" 2>/dev/null || true; }
trap 'rc=$?; set +e; polkit_resume; (exit $rc); cf_cleanup' EXIT
cf_write_config "num_cvd_accounts=2" "dhcp_ping=no"
cf_start_daemon
MGR=(busctl --system call org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1
     org.cuttlefish.HostResources1.Manager)
LIMITS=org.freedesktop.DBus.Error.LimitsExceeded
INVALID_OPTION=org.cuttlefish.HostResources1.Error.InvalidOption
PER_CALLER=32
A=nobody
B=daemon

# busctl opens one connection per call; this client sends many calls on one connection.
CLIENT=$CF_TMP/dbus-calls.py
cat > "$CLIENT" <<'PY'
# dbus-calls.py COUNT [METHOD]: on ONE connection to $DBUS_SYSTEM_BUS_ADDRESS, sends COUNT calls of
# org.cuttlefish.HostResources1.Manager.METHOD (default Reload, no arguments) without waiting,
# then org.freedesktop.DBus.Peer.Ping to the daemon. The daemon reads one connection's calls in
# order, so once the Ping is answered every call before it has been dispatched. Prints, as they
# arrive, "reply I ok" or "reply I error NAME MESSAGE" (I: 1..COUNT), and "barrier" for the Ping;
# exits once everything is answered, or prints "timeout" after 60 s.
import os, socket, struct, sys, time

def pad(buf, n):
    buf.extend(b"\0" * (-len(buf) % n))

def string(buf, s, sig=False):
    b = s.encode()
    if sig:
        buf.append(len(b))
    else:
        pad(buf, 4)
        buf.extend(struct.pack("<I", len(b)))
    buf.extend(b + b"\0")

def message(serial, path, interface, member, destination):
    fields = bytearray()
    for code, sig, value in ((1, "o", path), (2, "s", interface), (3, "s", member), (6, "s", destination)):
        pad(fields, 8)
        fields.append(code)
        string(fields, sig, sig=True)
        string(fields, value)
    head = bytearray(b"l\x01\x00\x01") + struct.pack("<III", 0, serial, len(fields))
    head.extend(fields)
    pad(head, 8)
    return bytes(head)

def parse(data):
    """One message from data: (length, type, reply_serial, error_name, first string arg) or None."""
    if len(data) < 16:
        return None
    assert data[0:1] == b"l", "big-endian message"
    body_len, _, fields_len = struct.unpack_from("<III", data, 4)
    start = 16 + fields_len + (-(16 + fields_len) % 8)
    total = start + body_len
    if len(data) < total:
        return None
    reply_serial, error, signature, off = None, None, "", 16
    while off < 16 + fields_len:
        off += -off % 8
        code, slen = data[off], data[off + 1]
        sig = data[off + 2:off + 2 + slen].decode()
        off += 3 + slen
        if sig in ("s", "o"):
            off += -off % 4
            (n,) = struct.unpack_from("<I", data, off)
            value = data[off + 4:off + 4 + n].decode()
            off += 5 + n
        elif sig == "g":
            n = data[off]
            value = data[off + 1:off + 1 + n].decode()
            off += 2 + n
        elif sig == "u":
            off += -off % 4
            (value,) = struct.unpack_from("<I", data, off)
            off += 4
        else:
            raise ValueError("header field type " + sig)
        if code == 5:
            reply_serial = value
        elif code == 4:
            error = value
        elif code == 8:
            signature = value
    text = ""
    if signature.startswith("s"):
        (n,) = struct.unpack_from("<I", data, start)
        text = data[start + 4:start + 4 + n].decode(errors="replace")
    return total, data[1], reply_serial, error, text

count = int(sys.argv[1])
method = sys.argv[2] if len(sys.argv) > 2 else "Reload"
address = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
assert address.startswith("unix:path="), address
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(address[len("unix:path="):].split(",")[0])
sock.sendall(b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n")
line = b""
while not line.endswith(b"\r\n"):
    chunk = sock.recv(256)
    if not chunk:
        sys.exit("bus closed during authentication")
    line += chunk
if not line.startswith(b"OK "):
    sys.exit("authentication refused: %r" % line)
sock.sendall(b"BEGIN\r\n")

out = [message(1, "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "org.freedesktop.DBus")]
for i in range(count):
    out.append(message(2 + i, "/org/cuttlefish/HostResources1", "org.cuttlefish.HostResources1.Manager",
                       method, "org.cuttlefish.HostResources1"))
ping = 2 + count
out.append(message(ping, "/org/cuttlefish/HostResources1", "org.freedesktop.DBus.Peer", "Ping",
                   "org.cuttlefish.HostResources1"))
sock.sendall(b"".join(out))

waiting = set(range(2, ping + 1))
data = b""
deadline = time.monotonic() + 60
sock.settimeout(1)
while waiting and time.monotonic() < deadline:
    try:
        chunk = sock.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        print("bus closed", flush=True)
        sys.exit(1)
    data += chunk
    while True:
        m = parse(data)
        if not m:
            break
        total, mtype, reply_serial, error, text = m
        data = data[total:]
        if mtype not in (2, 3) or reply_serial not in waiting:
            continue  # Hello's reply, NameAcquired, ...
        waiting.discard(reply_serial)
        if reply_serial == ping:
            print("barrier", flush=True)
        elif mtype == 2:
            print("reply %d ok" % (reply_serial - 1), flush=True)
        else:
            print("reply %d error %s %s" % (reply_serial - 1, error, text), flush=True)
if waiting:
    print("timeout", flush=True)
    sys.exit(1)
PY
chmod 644 "$CLIENT"

# calls USER COUNT OUT: the client in the background as USER; sets CALLS_PID.
calls() {
        as_user "$1" "$PYTHON" -I "$CLIENT" "$2" >"$3" 2>&1 &
        CALLS_PID=$!
        CF_PIDS+=("$CALLS_PID")
}
# replies_before_barrier OUT: the replies that came before the Ping's.
replies_before_barrier() { sed -n '/^barrier$/q; /^reply /p' "$1"; }
has_barrier() { grep -qx barrier "$1"; }
# count PATTERN FILE...: lines matching PATTERN in all FILEs.
count() { local p=$1; shift; cat "$@" | grep -c -e "$p" || true; }

cf_info "caller paths under /tmp or /dev/shm: InvalidOption naming the option, the path and why"
why="which the VMM does not see (it gets a private /tmp). Put the file under /var/tmp or your home directory."
expect_error "$INVALID_OPTION" "Option 'kernel': '/tmp/bzImage' is under /tmp, $why" \
        "${MGR[@]}" CreateInstance 'a{sv}' 2 kernel s /tmp/bzImage start b false
expect_error "$INVALID_OPTION" "Option 'kernel': '//tmp/x' is under /tmp, $why" \
        "${MGR[@]}" CreateInstance 'a{sv}' 2 kernel s //tmp/x start b false
expect_error "$INVALID_OPTION" "Option 'initrd': '/tmp/./initrd.img' is under /tmp, $why" \
        "${MGR[@]}" CreateInstance 'a{sv}' 3 kernel s /var/tmp/bzImage initrd s /tmp/./initrd.img start b false
expect_error "$INVALID_OPTION" "Option 'bios': '/dev/shm/bios.bin' is under /dev/shm, which the VMM does not see (it gets a private /dev/shm)." \
        "${MGR[@]}" CreateInstance 'a{sv}' 3 backend s crosvm bios s /dev/shm/bios.bin start b false
expect_error "$INVALID_OPTION" "Option 'images_dir': '/tmp' is /tmp, which the VMM does not see (it gets a private /tmp). Put the directory under" \
        "${MGR[@]}" CreateInstance 'a{sv}' 3 backend s cvd images_dir s /tmp start b false
expect_error "$INVALID_OPTION" "Option 'host_package': '/tmp/cvd' is under /tmp" \
        "${MGR[@]}" CreateInstance 'a{sv}' 4 backend s cvd images_dir s /var/tmp/img host_package s /tmp/cvd start b false
# ".." is never resolved: such a path is refused by its shape, as before.
expect_error "$INVALID_OPTION" "Option 'kernel': '/var/../tmp/x' is not an absolute path (no '..')" \
        "${MGR[@]}" CreateInstance 'a{sv}' 2 kernel s /var/../tmp/x start b false
set +e
OUT=$("$CFCTL" start --kernel=/tmp/bzImage 2>&1)
rc=$?
set -e
assert_eq "$rc" 1 "exit status of cfctl start --kernel=/tmp/bzImage ($OUT)"
[[ "$OUT" == *"Option 'kernel': '/tmp/bzImage' is under /tmp, $why"* ]] || cf_fail "cfctl start --kernel=/tmp/bzImage: $OUT"
# Disks are bound into the sandbox: /tmp is fine for them.
OUT=$("${MGR[@]}" CreateInstance 'a{sv}' 2 disks as 1 /tmp/disk.img start b false) || cf_fail "a disk under /tmp was refused"
N=$(awk '{print $2}' <<<"$OUT")
"${MGR[@]}" RemoveInstance u "$N" || cf_fail "remove instance $N"
assert_eq "$("$CFCTL" --json=short list | jq length)" 0 "instances after the path checks"

cf_info "calls waiting for polkit: at most $PER_CALLER per connection, the next is LimitsExceeded"
kill -STOP "$POLKIT_PID"
calls "$A" $((PER_CALLER + 1)) "$CF_TMP/a.out"
A_PID=$CALLS_PID
cf_wait_for 20 has_barrier "$CF_TMP/a.out" || cf_fail "A's calls were not dispatched: $(cat "$CF_TMP/a.out")"
# Everything up to the cap waits for polkit; only the call past it is answered, at once.
assert_eq "$(replies_before_barrier "$CF_TMP/a.out")" \
        "reply $((PER_CALLER + 1)) error $LIMITS You have $PER_CALLER authorization requests waiting for polkit, the most one connection may have. Wait for them to finish, then try again." \
        "A's replies while polkit hangs"

cf_info "another caller still gets to polkit"
calls "$B" 1 "$CF_TMP/b.out"
B_PID=$CALLS_PID
cf_wait_for 20 has_barrier "$CF_TMP/b.out" || cf_fail "B's call was not dispatched: $(cat "$CF_TMP/b.out")"
assert_eq "$(replies_before_barrier "$CF_TMP/b.out")" "" "B's replies while polkit hangs"

cf_info "polkit resumed: every waiting call gets its answer"
polkit_resume
wait "$A_PID" || cf_fail "A's calls did not all get answers: $(cat "$CF_TMP/a.out")"
wait "$B_PID" || cf_fail "B's call got no answer: $(cat "$CF_TMP/b.out")"
ANSWERED='^reply [0-9]* error org.freedesktop.DBus.Error.\(InteractiveAuthorizationRequired\|AccessDenied\) '
assert_eq "$(count "$ANSWERED" "$CF_TMP/a.out")" "$PER_CALLER" "A's calls answered by polkit ($(cat "$CF_TMP/a.out"))"
assert_eq "$(count " $LIMITS " "$CF_TMP/a.out")" 1 "A's calls refused by the limit"
assert_eq "$(count "$ANSWERED" "$CF_TMP/b.out")" 1 "B's call answered by polkit ($(cat "$CF_TMP/b.out"))"
! grep -q "Authorization check failed" "$CF_TMP/a.out" "$CF_TMP/b.out" || cf_fail "a check failed: $(cat "$CF_TMP"/[ab].out)"

# dbus-daemon lets one connection wait for 128 replies; 5 callers at the cap ask for 160.
cf_info "past the bus's limit on outstanding checks: LimitsExceeded, not a failed check"
kill -STOP "$POLKIT_PID"
PIDS=()
for k in 1 2 3 4 5; do
        calls "$A" "$PER_CALLER" "$CF_TMP/c$k.out"
        PIDS+=("$CALLS_PID")
done
all_barriers() { local f; for f in "$CF_TMP"/c?.out; do has_barrier "$f" || return 1; done; }
cf_wait_for 20 all_barriers || cf_fail "the callers' calls were not dispatched: $(cat "$CF_TMP"/c?.out)"
# The bus refuses at once; the daemon passes that on when it replays the call.
refused() { [ "$(count '^reply ' "$CF_TMP"/c?.out)" -ge $((5 * PER_CALLER - 128)) ]; }
cf_wait_for 20 refused || cf_fail "no call was refused while polkit hangs: $(cat "$CF_TMP"/c?.out)"
BUS_REFUSED="^reply [0-9]* error $LIMITS The bus refused to pass another authorization request on to polkit (.*). Wait for the requests already waiting to finish, then try again.\$"
assert_eq "$(count '^reply ' "$CF_TMP"/c?.out)" "$(count "$BUS_REFUSED" "$CF_TMP"/c?.out)" \
        "replies while polkit hangs are the bus's refusals ($(grep -h '^reply ' "$CF_TMP"/c?.out | sort | uniq -c | head -n 5))"
polkit_resume
for p in "${PIDS[@]}"; do
        wait "$p" || cf_fail "a caller's calls did not all get answers: $(cat "$CF_TMP"/c?.out)"
done
assert_eq "$(count '^reply ' "$CF_TMP"/c?.out)" $((5 * PER_CALLER)) "replies to the callers"
assert_eq "$(( $(count "$ANSWERED" "$CF_TMP"/c?.out) + $(count "$BUS_REFUSED" "$CF_TMP"/c?.out) ))" $((5 * PER_CALLER)) \
        "replies that are polkit's answer or the bus's refusal"

pid_alive "$DAEMON_PID" || cf_fail "daemon died"
busctl --system get-property org.cuttlefish.HostResources1 /org/cuttlefish/HostResources1 \
        org.cuttlefish.HostResources1.Manager Slots >/dev/null || cf_fail "the daemon does not answer"
echo "PASS"
