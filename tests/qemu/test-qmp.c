/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP client against a real QEMU under TCG with no guest: the greeting and capabilities
 * handshake, events, replies, errors and "quit". Then the same with a command line from
 * qemu_build_argv(), so QEMU itself checks our options (-sandbox, escaped commas, ...).
 * Skipped (77) without qemu-system-<arch>. Every wait is bounded; QEMU dies with the test. */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/qemu.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/socket-util.h"
#include "common/strv.h"
#include "common/time-util.h"

#define CONNECT_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define WAIT_TIMEOUT_USEC (10 * USEC_PER_SEC)

static char tmpdir[] = "/tmp/test-qmp-XXXXXX";
static bool have_tmpdir;
static pid_t qemu_pid = -1;
static char *qemu_log;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void dump_log(void) {
        _cleanup_free_ char *s = NULL;

        if (qemu_log && read_full_file(qemu_log, &s, NULL) >= 0)
                fprintf(stderr, "--- QEMU output ---\n%s\n-------------------\n", s);
}

static void cleanup(void) {
        if (qemu_pid > 0) {
                (void) kill(qemu_pid, SIGKILL);
                (void) waitpid(qemu_pid, NULL, 0);
                qemu_pid = -1;
        }
        if (have_tmpdir) {
                (void) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
                have_tmpdir = false;
        }
        qemu_log = mfree(qemu_log);
}

/* Like assert(), but kills QEMU and removes the tmpdir first. */
#define CHECK(expr)                                                                              \
        do {                                                                                     \
                if (!(expr)) {                                                                   \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                        dump_log();                                                              \
                        cleanup();                                                               \
                        exit(EXIT_FAILURE);                                                      \
                }                                                                                \
        } while (0)

/* clang-format off */
static const char *event_name(QmpEvent ev) {
        switch (ev) {
        case QMP_EVENT_NONE:            return "NONE";
        case QMP_EVENT_READY:           return "READY";
        case QMP_EVENT_SHUTDOWN:        return "SHUTDOWN";
        case QMP_EVENT_RESET:           return "RESET";
        case QMP_EVENT_GUEST_PANICKED:  return "GUEST_PANICKED";
        case QMP_EVENT_STOP:            return "STOP";
        case QMP_EVENT_RESUME:          return "RESUME";
        case QMP_EVENT_REPLY:           return "REPLY";
        case QMP_EVENT_ERROR:           return "ERROR";
        case _QMP_EVENT_MAX:
        case _QMP_EVENT_INVALID:        break;
        }
        return "?";
}
/* clang-format on */

typedef struct Seen {
        QmpEvent ev;
        char *detail;
} Seen;

typedef struct Events {
        Seen items[64];
        size_t n;
        bool reset; /* qmp_process() said -ECONNRESET */
} Events;

static void events_done(Events *e) {
        for (size_t i = 0; i < e->n; i++)
                free(e->items[i].detail);
        e->n = 0;
}

static void on_event(QmpEvent ev, const char *detail, void *userdata) {
        Events *e = userdata;

        fprintf(stderr, "  event %s%s%s\n", event_name(ev), detail ? " " : "", strempty(detail));
        CHECK(e->n < ELEMENTSOF(e->items));
        e->items[e->n] = (Seen){ .ev = ev, .detail = detail ? strdup(detail) : NULL };
        CHECK(!detail || e->items[e->n].detail);
        e->n++;
}

/* Removes the first event ev whose detail contains substr (any detail if NULL). */
static bool events_take(Events *e, QmpEvent ev, const char *substr) {
        for (size_t i = 0; i < e->n; i++) {
                if (e->items[i].ev != ev)
                        continue;
                if (substr && (!e->items[i].detail || !strstr(e->items[i].detail, substr)))
                        continue;

                free(e->items[i].detail);
                memmove(e->items + i, e->items + i + 1, (e->n - i - 1) * sizeof(Seen));
                e->n--;
                return true;
        }
        return false;
}

static bool events_have(const Events *e, QmpEvent ev) {
        for (size_t i = 0; i < e->n; i++)
                if (e->items[i].ev == ev)
                        return true;
        return false;
}

/* Drives q until ev (with substr in its detail) arrives: true; or the connection resets: false.
 * Fails the test after WAIT_TIMEOUT_USEC. */
static bool wait_event(Qmp *q, Events *e, QmpEvent ev, const char *substr) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + WAIT_TIMEOUT_USEC;

        for (;;) {
                struct pollfd p;
                uint64_t t;
                int r;

                if (events_take(e, ev, substr))
                        return true;
                if (e->reset)
                        return false;

                t = now_usec(CLOCK_MONOTONIC);
                if (t >= deadline)
                        fprintf(stderr, "timed out waiting for %s %s\n", event_name(ev), strempty(substr));
                CHECK(t < deadline);

                p = (struct pollfd){
                        .fd = qmp_fd(q),
                        .events = POLLIN | (qmp_wants_write(q) ? POLLOUT : 0),
                };
                r = poll(&p, 1, (int) ((deadline - t + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (r < 0 && errno == EINTR)
                        continue;
                CHECK(r >= 0);
                if (r == 0)
                        continue;

                r = qmp_process(q, on_event, e);
                if (r == -ECONNRESET) {
                        e->reset = true;
                        continue;
                }
                if (r < 0)
                        fprintf(stderr, "qmp_process: %s\n", strerror(-r));
                CHECK(r >= 0);
        }
}

static void sleep_msec(int ms) {
        (void) poll(NULL, 0, ms); /* a bounded pause between retries */
}

/* keep_fd: one of ours QEMU inherits (-1: none). */
static void start_qemu(char **argv, int keep_fd) {
        pid_t parent = getpid();

        qemu_log = path_join(tmpdir, "qemu.log");
        CHECK(qemu_log);

        fprintf(stderr, "  exec:");
        STRV_FOREACH (a, argv)
                fprintf(stderr, " %s", *a);
        fprintf(stderr, "\n");

        qemu_pid = fork();
        CHECK(qemu_pid >= 0);
        if (qemu_pid == 0) {
                int fd;

                /* QEMU must not outlive a test that crashed or was killed. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);

                fd = open(qemu_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
                        _exit(127);
                if (keep_fd >= 0 && fcntl(keep_fd, F_SETFD, 0) < 0)
                        _exit(127);

                execv(argv[0], argv);
                _exit(127);
        }
}

static Qmp *connect_qmp(const char *path) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + CONNECT_TIMEOUT_USEC;

        for (;;) {
                Qmp *q = NULL;
                int status, r;

                r = qmp_connect(path, getuid(), &q);
                if (r == 0)
                        return q;
                CHECK(r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN);

                r = waitpid(qemu_pid, &status, WNOHANG);
                if (r == qemu_pid) {
                        fprintf(stderr, "QEMU exited early (status 0x%x)\n", (unsigned) status);
                        qemu_pid = -1;
                }
                CHECK(r == 0);
                CHECK(now_usec(CLOCK_MONOTONIC) < deadline);
                sleep_msec(20);
        }
}

/* QEMU's exit status, within WAIT_TIMEOUT_USEC. */
static int wait_qemu_exit(void) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + WAIT_TIMEOUT_USEC;

        for (;;) {
                int status;
                pid_t r = waitpid(qemu_pid, &status, WNOHANG);

                CHECK(r >= 0);
                if (r == qemu_pid) {
                        qemu_pid = -1;
                        return status;
                }
                CHECK(now_usec(CLOCK_MONOTONIC) < deadline);
                sleep_msec(20);
        }
}

/* "quit": a reply and SHUTDOWN (host-qmp-quit) unless the connection drops first; exit 0. */
static void quit(Qmp *q, Events *e) {
        int status;

        CHECK(qmp_send(q, "quit") == 0);
        if (wait_event(q, e, QMP_EVENT_SHUTDOWN, NULL))
                (void) wait_event(q, e, QMP_EVENT_REPLY, "quit");
        /* Either way the connection ends. */
        (void) wait_event(q, e, QMP_EVENT_NONE, NULL);
        CHECK(e->reset);

        status = wait_qemu_exit();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "QEMU status 0x%x\n", (unsigned) status);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_plain(const char *qemu) {
        _cleanup_free_ char *sock = NULL, *qmp_opt = NULL;
        Events e = {};
        Qmp *q;

        fprintf(stderr, "plain QEMU, no guest:\n");
        sock = path_join(tmpdir, "qmp.sock");
        CHECK(sock);
        CHECK(asprintf(&qmp_opt, "unix:%s,server=on,wait=off", sock) >= 0);

        char *argv[] = {
                (char *) qemu,
                (char *) "-nodefaults",
                (char *) "-display",
                (char *) "none",
                (char *) "-S",
                (char *) "-accel",
                (char *) "tcg",
                (char *) "-qmp",
                qmp_opt,
                NULL,
        };
        start_qemu(argv, -1);
        q = connect_qmp(sock);

        CHECK(wait_event(q, &e, QMP_EVENT_READY, NULL));
        CHECK(!qmp_wants_write(q));

        CHECK(qmp_send(q, "cont") == 0);
        CHECK(qmp_wants_write(q));
        CHECK(wait_event(q, &e, QMP_EVENT_RESUME, NULL));
        CHECK(wait_event(q, &e, QMP_EVENT_REPLY, "cont"));

        CHECK(qmp_send(q, "stop") == 0);
        CHECK(wait_event(q, &e, QMP_EVENT_STOP, NULL));
        CHECK(wait_event(q, &e, QMP_EVENT_REPLY, "stop"));

        CHECK(qmp_send(q, "no-such-command") == 0);
        CHECK(wait_event(q, &e, QMP_EVENT_ERROR, "no-such-command"));

        /* Several at once: replies come back in order. */
        CHECK(qmp_send(q, "query-status") == 0);
        CHECK(qmp_send(q, "query-version") == 0);
        CHECK(qmp_send(q, "query-name") == 0);
        CHECK(wait_event(q, &e, QMP_EVENT_REPLY, "query-name"));
        CHECK(e.n == 2);
        CHECK(e.items[0].ev == QMP_EVENT_REPLY && streq(e.items[0].detail, "query-status"));
        CHECK(e.items[1].ev == QMP_EVENT_REPLY && streq(e.items[1].detail, "query-version"));
        events_done(&e);

        CHECK(qmp_send(q, "bad\"name") == -EINVAL);
        CHECK(qmp_send(q, "") == -EINVAL);

        quit(q, &e);
        CHECK(!events_have(&e, QMP_EVENT_ERROR));
        events_done(&e);
        qmp_free(q);
}

/* Our own command line, paused, under TCG: QEMU accepts every option, and commands queued
 * before the handshake go out after it. */
static void test_built_argv(const char *qemu) {
        _cleanup_free_ char *sock = NULL, *disk = NULL;
        _cleanup_(strv_freep) char **argv = NULL;
        char *disks[2] = {};
        InstanceSpec spec;
        QemuPlan plan;
        Events e = {};
        _cleanup_close_ int listen_fd = -EBADF;
        Qmp *q;
        int fd;

        fprintf(stderr, "qemu_build_argv():\n");
        sock = path_join(tmpdir, "q,mp.sock");
        disk = path_join(tmpdir, "disk,1.img");
        CHECK(sock && disk);

        fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(ftruncate(fd, 1024 * 1024) == 0);
        CHECK(close(fd) == 0);

        instance_spec_init(&spec, BACKEND_QEMU);
        spec.cpus = 1;
        spec.memory_mb = 128;
        disks[0] = disk;
        spec.disks = disks;
        /* As the daemon does: the socket bound with the owner's identity, listening, handed over. */
        CHECK(unix_socket_bind_as(sock, SOCK_STREAM, getuid(), getgid(), &listen_fd) == 0);
        CHECK(listen(listen_fd, 4) == 0);
        plan = (QemuPlan){
                .qemu = qemu,
                .qmp_fd = listen_fd,
                .paused = true,
        };
        CHECK(qemu_build_argv(&spec, &plan, &argv) == 0);

        start_qemu(argv, listen_fd);
        listen_fd = safe_close(listen_fd);
        q = connect_qmp(sock);

        CHECK(qmp_send(q, "query-status") == 0); /* before READY: held back */
        CHECK(wait_event(q, &e, QMP_EVENT_READY, NULL));
        CHECK(wait_event(q, &e, QMP_EVENT_REPLY, "query-status"));

        CHECK(qmp_send(q, "cont") == 0);
        CHECK(wait_event(q, &e, QMP_EVENT_RESUME, NULL));
        CHECK(wait_event(q, &e, QMP_EVENT_REPLY, "cont"));

        quit(q, &e);
        CHECK(!events_have(&e, QMP_EVENT_ERROR));
        events_done(&e);
        qmp_free(q);
}

int main(void) {
        _cleanup_free_ char *qemu = NULL;
        int r;

        r = qemu_find(&qemu);
        if (r < 0) {
                fprintf(stderr, "No QEMU found (%s), skipping.\n", strerror(-r));
                return EXIT_TEST_SKIP;
        }

        (void) signal(SIGPIPE, SIG_IGN);
        CHECK(mkdtemp(tmpdir));
        have_tmpdir = true;

        test_plain(qemu);
        cleanup();

        CHECK(mkdtemp(strcpy(tmpdir, "/tmp/test-qmp-XXXXXX")));
        have_tmpdir = true;
        test_built_argv(qemu);
        cleanup();

        return EXIT_SUCCESS;
}
