/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP client against a scripted server on a unix socket in a tmpdir: the handshake, byte by
 * byte and several messages per read, commands held back until READY, replies in send order,
 * errors, EOF, and the protocol errors (garbage, a message over 1 MiB, answers to nothing).
 * Local sockets deliver a write at once, so each step is a write followed by one qmp_process(). */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/qemu.h"
#include "common/fs-util.h"
#include "common/macro.h"

#define GREETING                                                                            \
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}}, " \
        "\"capabilities\": [\"oob\"]}}\r\n"
#define CAPS "{\"execute\":\"qmp_capabilities\"}\r\n"
#define RETURN "{\"return\": {}}\r\n"

static char dir[] = "/tmp/test-qmp-proto-XXXXXX";
static char *sock_path;
static int listen_fd = -EBADF;

typedef struct Seen {
        QmpEvent ev;
        char detail[256];
} Seen;

typedef struct Events {
        Seen items[128];
        size_t n;
} Events;

static void on_event(QmpEvent ev, const char *detail, void *userdata) {
        Events *e = userdata;

        assert(e->n < ELEMENTSOF(e->items));
        e->items[e->n].ev = ev;
        (void) snprintf(e->items[e->n].detail, sizeof(e->items[e->n].detail), "%s", detail ?: "(null)");
        e->n++;
}

static void assert_event(Events *e, size_t i, QmpEvent ev, const char *detail) {
        assert(i < e->n);
        if (e->items[i].ev != ev || !streq(e->items[i].detail, detail)) {
                fprintf(stderr,
                        "event %zu: expected %d \"%s\", got %d \"%s\"\n",
                        i,
                        ev,
                        detail,
                        e->items[i].ev,
                        e->items[i].detail);
                assert(false);
        }
}

/* A client connected to a fresh server socket; returns the server end. */
static int pair(Qmp **ret) {
        int fd;

        assert(qmp_connect(sock_path, getuid(), ret) == 0);
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        assert(fd >= 0);
        return fd;
}

static void put(int fd, const char *s) {
        size_t n = strlen(s);

        assert(write(fd, s, n) == (ssize_t) n);
}

/* Everything the client wrote so far must be exactly s. */
static void expect_sent(int fd, const char *s) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);

        if (!s[0]) {
                assert(n < 0 && errno == EAGAIN);
                return;
        }
        assert(n >= 0);
        buf[n] = '\0';
        if (!streq(buf, s)) {
                fprintf(stderr, "client sent \"%s\", expected \"%s\"\n", buf, s);
                assert(false);
        }
}

static void handshake(Qmp *q, int srv, Events *e) {
        put(srv, GREETING);
        assert(qmp_process(q, on_event, e) == 0);
        expect_sent(srv, CAPS);
        assert(!qmp_wants_write(q));
        put(srv, RETURN);
        assert(qmp_process(q, on_event, e) == 0);
        assert_event(e, e->n - 1, QMP_EVENT_READY, "(null)");
}

static void test_handshake_bytewise(void) {
        _cleanup_close_ int srv = -EBADF;
        const char *all = GREETING RETURN;
        Events e = {};
        Qmp *q;

        srv = pair(&q);
        assert(qmp_fd(q) >= 0);
        assert(!qmp_wants_write(q));

        /* Commands queued before READY wait; the handshake goes first. */
        assert(qmp_send(q, "stop") == 0);
        assert(qmp_send(q, "cont") == 0);
        assert(!qmp_wants_write(q));
        assert(qmp_process(q, on_event, &e) == 0);
        expect_sent(srv, "");

        /* The handshake answer goes out at the greeting's closing brace, READY comes at the
         * return's: what follows each is only "\r\n". */
        size_t caps_at = strlen(GREETING) - 3, ready_at = strlen(GREETING) + strlen(RETURN) - 3;
        for (size_t i = 0; all[i]; i++) {
                char b[2] = { all[i], 0 };

                put(srv, b);
                assert(qmp_process(q, on_event, &e) == 0);
                assert(e.n == (i >= ready_at ? 1 : 0));
                if (i < caps_at)
                        expect_sent(srv, "");
                else if (i == caps_at)
                        expect_sent(srv, CAPS);
                else if (i == ready_at)
                        break;
        }
        assert(e.n == 1);
        assert_event(&e, 0, QMP_EVENT_READY, "(null)");
        expect_sent(srv, "{\"execute\":\"stop\"}\r\n{\"execute\":\"cont\"}\r\n");
        put(srv, "\r\n");

        /* Several messages in one read; events in between replies; replies in send order. */
        put(srv,
            "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n" RETURN
            "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 3}}\r\n"
            "{\"return\": {\"status\": \"running\"}}\r\n");
        assert(qmp_process(q, on_event, &e) == 0);
        assert(e.n == 5);
        assert_event(&e, 1, QMP_EVENT_STOP, "(null)");
        assert_event(&e, 2, QMP_EVENT_REPLY, "stop");
        assert_event(&e, 3, QMP_EVENT_RESUME, "(null)");
        assert_event(&e, 4, QMP_EVENT_REPLY, "cont");

        /* Events with reasons; unknown events and unknown messages are ignored. */
        put(srv,
            "{\"event\": \"RESET\", \"data\": {\"guest\": true, \"reason\": \"guest-reset\"}}\r\n"
            "{\"event\": \"GUEST_PANICKED\", \"data\": {\"action\": \"pause\"}}\r\n"
            "{\"event\": \"NIC_RX_FILTER_CHANGED\", \"data\": {\"path\": \"/x\"}}\r\n"
            "{\"something-new\": 1}\r\n"
            "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}");
        assert(qmp_process(q, on_event, &e) == 0);
        assert(e.n == 8);
        assert_event(&e, 5, QMP_EVENT_RESET, "guest-reset");
        assert_event(&e, 6, QMP_EVENT_GUEST_PANICKED, "(null)");
        assert_event(&e, 7, QMP_EVENT_SHUTDOWN, "guest-shutdown");

        /* Errors carry QEMU's desc, or the command when there is none. */
        assert(qmp_send(q, "no-such-command") == 0);
        assert(qmp_send(q, "system_powerdown") == 0);
        assert(qmp_wants_write(q));
        assert(qmp_process(q, on_event, &e) == 0);
        assert(!qmp_wants_write(q));
        expect_sent(srv, "{\"execute\":\"no-such-command\"}\r\n{\"execute\":\"system_powerdown\"}\r\n");
        put(srv,
            "\r\n{\"error\": {\"class\": \"CommandNotFound\",\r\n"
            "\"desc\": \"The command no-such-command has not been found\"}}\r\n"
            "{\"error\": {\"class\": \"GenericError\"}}\r\n");
        assert(qmp_process(q, on_event, &e) == 0);
        assert(e.n == 10);
        assert_event(&e, 8, QMP_EVENT_ERROR, "The command no-such-command has not been found");
        assert_event(&e, 9, QMP_EVENT_ERROR, "system_powerdown");

        /* A message split across reads, then EOF: what came before EOF is delivered. */
        put(srv, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, ");
        assert(qmp_process(q, on_event, &e) == 0);
        assert(e.n == 10);
        put(srv, "\"reason\": \"host-qmp-quit\"}}\r\n");
        srv = safe_close(srv);
        assert(qmp_process(q, on_event, &e) == -ECONNRESET);
        assert(e.n == 11);
        assert_event(&e, 10, QMP_EVENT_SHUTDOWN, "host-qmp-quit");

        qmp_free(q);
}

static void test_send_limits(void) {
        _cleanup_close_ int srv = -EBADF;
        Events e = {};
        Qmp *q;
        size_t n = 0;

        srv = pair(&q);
        assert(qmp_send(q, NULL) == -EINVAL);
        assert(qmp_send(q, "") == -EINVAL);
        assert(qmp_send(q, "a\"b") == -EINVAL);
        assert(qmp_send(q, "a b") == -EINVAL);
        assert(qmp_send(q, "stop\r\n{") == -EINVAL);
        assert(qmp_send(NULL, "stop") == -EINVAL);

        for (;;) {
                int r = qmp_send(q, "query-status");
                if (r == -ENOBUFS)
                        break;
                assert(r == 0);
                n++;
        }
        assert(n >= 8 && n <= 1024);

        /* Answering one makes room for one. */
        handshake(q, srv, &e); /* READY sends all of them */
        assert(!qmp_wants_write(q));
        put(srv, RETURN);
        assert(qmp_process(q, on_event, &e) == 0);
        assert_event(&e, 1, QMP_EVENT_REPLY, "query-status");
        assert(qmp_send(q, "cont") == 0);
        assert(qmp_send(q, "cont") == -ENOBUFS);

        qmp_free(q);
}

static void expect_eproto(const char *greeting, const char *after_ready) {
        _cleanup_close_ int srv = -EBADF;
        Events e = {};
        Qmp *q;

        srv = pair(&q);
        if (after_ready) {
                handshake(q, srv, &e);
                put(srv, after_ready);
        } else
                put(srv, greeting);
        assert(qmp_process(q, on_event, &e) == -EPROTO);
        qmp_free(q);
}

static void test_protocol_errors(void) {
        _cleanup_close_ int srv = -EBADF;
        _cleanup_free_ char *big = NULL;
        Events e = {};
        size_t off = 0, len;
        Qmp *q;
        int r;

        expect_eproto("{\"return\": {}}\r\n", NULL); /* no greeting */
        expect_eproto("not json\r\n", NULL);
        expect_eproto("[1, 2]\r\n", NULL); /* not an object */
        expect_eproto("null\r\n", NULL);
        expect_eproto(GREETING "{\"error\": {\"desc\": \"no\"}}\r\n", NULL); /* capabilities refused */
        expect_eproto(NULL, RETURN);                                         /* an answer to nothing */
        expect_eproto(NULL, "{\"error\": {\"desc\": \"x\"}}\r\n");
        expect_eproto(NULL, "{\"event\": 3}\r\n");
        expect_eproto(NULL, "}\r\n");

        /* A NUL byte. */
        srv = pair(&q);
        handshake(q, srv, &e);
        assert(write(srv, "{\"event\"\0: 1}", 13) == 13);
        assert(qmp_process(q, on_event, &e) == -EPROTO);
        qmp_free(q);
        srv = safe_close(srv);
        e = (Events){};

        /* A message that never ends: an error past 1 MiB, not an ever-growing buffer. */
        srv = pair(&q);
        handshake(q, srv, &e);
        len = 1024 * 1024 + 64;
        big = malloc(len + 1);
        assert(big);
        memset(big, 'x', len);
        memcpy(big, "{\"return\": \"", 12);
        big[len] = '\0';
        /* qmp_process() reads a bounded amount per call, so the writer may finish first. */
        for (unsigned rounds = 0;; rounds++) {
                if (off < len) {
                        ssize_t n = write(srv, big + off, len - off);

                        if (n > 0)
                                off += (size_t) n;
                        else
                                assert(n < 0 && errno == EAGAIN);
                }
                r = qmp_process(q, on_event, &e);
                if (r < 0)
                        break;
                assert(rounds < 100000);
        }
        assert(r == -EPROTO);
        assert(e.n == 1);
        qmp_free(q);
}

static void test_connect(void) {
        _cleanup_free_ char *gone = NULL, *dead = NULL, *too_long = NULL, *live = NULL, *link = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        Qmp *q = (Qmp *) 0x1;

        gone = path_join(dir, "nothing-here");
        assert(gone);
        assert(qmp_connect(gone, (uid_t) -1, &q) == -ENOENT);
        assert(q == (Qmp *) 0x1);

        /* A socket file nobody listens on any more. */
        dead = path_join(dir, "dead.sock");
        assert(dead);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(fd >= 0);
        strcpy(sa.sun_path, dead);
        assert(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        fd = safe_close(fd);
        assert(qmp_connect(dead, getuid(), &q) == -ECONNREFUSED);
        assert(unlink(dead) == 0);

        /* What an owner could put at the path instead of the VMM's socket is never connected to:
         * a symlink (to a live socket), another user's socket, something that is no socket. */
        live = path_join(dir, "live.sock");
        link = path_join(dir, "link.sock");
        assert(live && link);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(fd >= 0);
        strcpy(sa.sun_path, live);
        assert(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        assert(listen(fd, 4) == 0);
        assert(symlink(live, link) == 0);
        assert(qmp_connect(link, (uid_t) -1, &q) == -ELOOP);
        assert(qmp_connect(live, getuid() + 1, &q) == -EPERM);
        assert(qmp_connect(dir, (uid_t) -1, &q) == -ENOTSOCK);
        assert(qmp_connect(live, getuid(), &q) == 0); /* (through /proc/self/fd) */
        q = qmp_free(q);
        q = (Qmp *) 0x1;
        fd = safe_close(fd);
        assert(unlink(link) == 0 && unlink(live) == 0);

        too_long = malloc(200);
        assert(too_long);
        memset(too_long, 'a', 199);
        too_long[0] = '/';
        too_long[199] = '\0';
        assert(qmp_connect(too_long, (uid_t) -1, &q) == -ENAMETOOLONG);
        assert(qmp_connect("", (uid_t) -1, &q) == -EINVAL);
        assert(qmp_connect(NULL, (uid_t) -1, &q) == -EINVAL);
        assert(q == (Qmp *) 0x1);

        assert(!qmp_free(NULL));
        assert(qmp_fd(NULL) < 0);
        assert(!qmp_wants_write(NULL));
}

int main(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        assert(mkdtemp(dir));
        sock_path = path_join(dir, "qmp.sock");
        assert(sock_path && strlen(sock_path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, sock_path);

        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(listen_fd >= 0);
        assert(bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        assert(listen(listen_fd, 16) == 0);

        test_handshake_bytewise();
        test_send_limits();
        test_protocol_errors();
        test_connect();

        listen_fd = safe_close(listen_fd);
        assert(unlink(sock_path) == 0);
        assert(rmdir(dir) == 0);
        free(sock_path);
        return EXIT_SUCCESS;
}
