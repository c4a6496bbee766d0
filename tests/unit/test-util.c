/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rm_rf(): deep and wide trees with bounded fds, symlinks, every file type, mounts (as root), and
 * the identity checks the walk relies on; safe_fork()'s child set-up and pid_get_exe(), each child
 * reporting what it found through its exit status; the string table macros. Everything happens
 * below a mkdtemp() directory in /var/tmp. */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/fs-util.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/string-table.h"
#include "netsetup/plan.h"
#include "vmm/gpu.h"
#include "vmm/spec.h"

static unsigned n_failed;

/* Each check says what failed and where, and makes the test exit non-zero; it goes on, so one run
 * shows every failure. */
#define CHECK(expr)                                                               \
        ({                                                                        \
                bool _ok = (expr);                                                \
                if (!_ok) {                                                       \
                        fprintf(stderr,                                           \
                                "%s:%d: %s: check failed: %s (last errno: %m)\n", \
                                __FILE__,                                         \
                                __LINE__,                                         \
                                __func__,                                         \
                                #expr);                                           \
                        n_failed++;                                               \
                }                                                                 \
                _ok;                                                              \
        })
#define CHECK_INT(expr, expected)                                                          \
        ({                                                                                 \
                long _got = (long) (expr), _want = (long) (expected);                      \
                if (_got != _want) {                                                       \
                        fprintf(stderr,                                                    \
                                "%s:%d: %s: check failed: %s is %ld, expected %s (%ld)\n", \
                                __FILE__,                                                  \
                                __LINE__,                                                  \
                                __func__,                                                  \
                                #expr,                                                     \
                                _got,                                                      \
                                #expected,                                                 \
                                _want);                                                    \
                        n_failed++;                                                        \
                }                                                                          \
                _got == _want;                                                             \
        })

static char *tmp; /* the mkdtemp() directory */

static char *tmp_path(const char *name) {
        char *p = path_join(tmp, name);

        if (!p) {
                fprintf(stderr, "out of memory\n");
                abort();
        }
        return p;
}

static bool exists_at(int dfd, const char *name) {
        struct stat st;

        return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool exists(const char *path) {
        return exists_at(AT_FDCWD, path);
}

static bool make_file_at(int dfd, const char *name) {
        _cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        return CHECK(fd >= 0);
}

static bool make_file(const char *path) {
        return make_file_at(AT_FDCWD, path);
}

static int open_dir(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        CHECK(fd >= 0);
        return fd;
}

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        if (!CHECK(d))
                return -1;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void test_missing(void) {
        _cleanup_free_ char *missing = tmp_path("missing"), *below = tmp_path("missing/below");
        _cleanup_close_ int dfd = open_dir(tmp);

        CHECK_INT(rm_rf(missing), 0);
        CHECK_INT(rm_rf(below), 0);
        CHECK_INT(rm_rf_at(dfd, "missing"), 0);
        CHECK_INT(rm_rf(""), -EINVAL);
        CHECK_INT(rm_rf("/"), -EINVAL);
        CHECK_INT(rm_rf_at(dfd, "."), -EINVAL);
        CHECK_INT(rm_rf_at(dfd, ".."), -EINVAL);
        CHECK(exists(tmp));
}

/* depth directories "d" in one another, with a file in every 100th one and at the bottom. */
static void test_deep(unsigned depth) {
        _cleanup_free_ char *top = tmp_path("deep");
        int fd, n_fds;

        if (!CHECK(mkdir(top, 0700) == 0))
                return;
        fd = open_dir(top);
        for (unsigned i = 0; i < depth && fd >= 0; i++) {
                int sub;

                if (!CHECK(mkdirat(fd, "d", 0700) == 0))
                        break;
                if (i % 100 == 0)
                        (void) make_file_at(fd, "f");
                sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                CHECK(sub >= 0);
                close(fd);
                fd = sub;
        }
        if (fd >= 0)
                (void) make_file_at(fd, "bottom");
        safe_close(fd);

        n_fds = count_fds();
        if (!CHECK_INT(rm_rf(top), 0))
                fprintf(stderr, "  (depth %u)\n", depth);
        CHECK(!exists(top));
        CHECK_INT(count_fds(), n_fds);
}

static void test_deep_40(void) {
        test_deep(40);
}

static void test_deep_5000(void) {
        test_deep(5000);
}

/* Many files and many non-empty directories side by side: the walk comes back up to the same
 * directory once per child, and must not start over each time. */
static void test_wide(void) {
        _cleanup_free_ char *top = tmp_path("wide");
        _cleanup_close_ int fd = -EBADF;
        char name[32];

        if (!CHECK(mkdir(top, 0700) == 0))
                return;
        fd = open_dir(top);
        for (unsigned i = 0; i < 5000 && fd >= 0; i++) {
                snprintf(name, sizeof(name), "f%u", i);
                if (!make_file_at(fd, name))
                        break;
        }
        for (unsigned i = 0; i < 1000 && fd >= 0; i++) {
                _cleanup_close_ int sub = -EBADF;

                snprintf(name, sizeof(name), "d%u", i);
                if (!CHECK(mkdirat(fd, name, 0700) == 0))
                        break;
                sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (!CHECK(sub >= 0) || !make_file_at(sub, "f") || !CHECK(mkdirat(sub, "empty", 0700) == 0))
                        break;
        }
        fd = safe_close(fd);

        CHECK_INT(rm_rf(top), 0);
        CHECK(!exists(top));
}

static void test_symlinks(void) {
        _cleanup_free_ char *outside = tmp_path("outside"), *keep = tmp_path("outside/keep"),
                            *top = tmp_path("tree"), *link_dir = tmp_path("tree/sub/to-outside"),
                            *link_file = tmp_path("tree/to-keep"), *dangling = tmp_path("tree/dangling"),
                            *top_link = tmp_path("top-link"), *top_link_slash = tmp_path("top-link/");

        if (!CHECK(mkdir(outside, 0700) == 0) || !make_file(keep))
                return;

        /* Inside the tree, pointing out of it. */
        CHECK(mkdir(top, 0700) == 0);
        CHECK(mkdir_p(link_dir, 0700) == 0);
        CHECK(rmdir(link_dir) == 0);
        CHECK(symlink(outside, link_dir) == 0);
        CHECK(symlink(keep, link_file) == 0);
        CHECK(symlink("/nonexistent", dangling) == 0);
        CHECK_INT(rm_rf(top), 0);
        CHECK(!exists(top));
        CHECK(exists(keep));

        /* The path itself: the link goes, its target stays; also with a trailing slash. */
        CHECK(symlink(outside, top_link) == 0);
        CHECK_INT(rm_rf(top_link), 0);
        CHECK(!exists(top_link));
        CHECK(exists(keep));
        CHECK(symlink(outside, top_link) == 0);
        CHECK_INT(rm_rf(top_link_slash), 0);
        CHECK(!exists(top_link));
        CHECK(exists(keep));

        CHECK_INT(rm_rf(outside), 0);
        CHECK(!exists(outside));
}

static void test_kinds(void) {
        _cleanup_free_ char *top = tmp_path("kinds"), *file = tmp_path("plain-file");
        _cleanup_close_ int dfd = open_dir(tmp), fd = -EBADF, sock = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (!CHECK(mkdir(top, 0700) == 0))
                return;
        fd = open_dir(top);
        (void) make_file_at(fd, "file");
        (void) make_file_at(fd, "unreadable");
        CHECK(fchmodat(fd, "unreadable", 0, 0) == 0);
        CHECK(mkfifoat(fd, "fifo", 0600) == 0);
        CHECK(mkdirat(fd, "empty", 0700) == 0);
        CHECK(mkdirat(fd, "a", 0700) == 0);
        CHECK(mkdirat(fd, "a/b", 0700) == 0);
        CHECK(mkdirat(fd, "a/b/c", 0700) == 0);
        CHECK(mkdirat(fd, "a/b/c2", 0700) == 0);
        (void) make_file_at(fd, "a/b/c2/file");
        CHECK(mkfifoat(fd, "a/b/fifo", 0600) == 0);
        CHECK(mkdirat(fd, "full", 0700) == 0);
        (void) make_file_at(fd, "full/.hidden");

        /* A socket, bound by a relative name from inside the tree. */
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/kinds/sock", tmp);
        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (CHECK(sock >= 0) && strlen(sa.sun_path) < sizeof(sa.sun_path) - 1)
                CHECK(bind(sock, (struct sockaddr *) &sa, sizeof(sa)) == 0);

        CHECK_INT(rm_rf_at(dfd, "kinds"), 0);
        CHECK(!exists(top));

        /* A path that is not a directory is unlinked. */
        if (make_file(file)) {
                CHECK_INT(rm_rf(file), 0);
                CHECK(!exists(file));
        }
}

/* What stays makes its directories stay, the rest goes, and the first error comes back. As
 * root, permissions do not stop unlink(); the mount test covers that case. */
static void test_unremovable(void) {
        _cleanup_free_ char *top = tmp_path("stays"), *locked = tmp_path("stays/a/locked"),
                            *kept = tmp_path("stays/a/locked/kept"), *other = tmp_path("stays/other");

        if (geteuid() == 0) {
                printf("# unremovable: skipped, running as root\n");
                return;
        }
        CHECK(mkdir_p(locked, 0700) == 0);
        (void) make_file(kept);
        (void) make_file(other);
        CHECK(chmod(locked, 0500) == 0);

        CHECK_INT(rm_rf(top), -EACCES);
        CHECK(exists(kept));
        CHECK(!exists(other));

        CHECK(chmod(locked, 0700) == 0);
        CHECK_INT(rm_rf(top), 0);
        CHECK(!exists(top));
}

static void test_file_id(void) {
        _cleanup_free_ char *a = tmp_path("id-a"), *b = tmp_path("id-b");
        _cleanup_close_ int fa = -EBADF, fa2 = -EBADF, fb = -EBADF, fproc = -EBADF;
        FileId ia, ia2, ib, iproc;

        CHECK(mkdir(a, 0700) == 0 && mkdir(b, 0700) == 0);
        fa = open_dir(a);
        fa2 = open(a, O_PATH | O_DIRECTORY | O_CLOEXEC);
        fb = open_dir(b);
        fproc = open_dir("/proc");
        if (fa < 0 || fa2 < 0 || fb < 0 || fproc < 0)
                return;
        CHECK_INT(file_id_from_fd(fa, &ia), 0);
        CHECK_INT(file_id_from_fd(fa2, &ia2), 0);
        CHECK_INT(file_id_from_fd(fb, &ib), 0);
        CHECK_INT(file_id_from_fd(fproc, &iproc), 0);
        if (!ia.has_mnt_id)
                printf("# file_id: this kernel gives no mount ids, st_dev only\n");

        CHECK(file_id_equal(&ia, &ia2));
        CHECK(!file_id_equal(&ia, &ib));
        CHECK(file_id_same_mount(&ia, &ib));
        CHECK(!file_id_same_mount(&ia, &iproc));
        CHECK(!file_id_equal(&ia, &iproc));

        /* Same inode and st_dev on another mount (a bind mount) differs if both ids are known. */
        ia2 = ia;
        ia2.mnt_id = ia.mnt_id + 1;
        ia2.has_mnt_id = ia.has_mnt_id = true;
        CHECK(!file_id_same_mount(&ia, &ia2));
        CHECK(!file_id_equal(&ia, &ia2));
        ia2.has_mnt_id = false;
        CHECK(file_id_same_mount(&ia, &ia2));
        CHECK(file_id_equal(&ia, &ia2));
        ia2.dev++;
        CHECK(!file_id_same_mount(&ia, &ia2));

        CHECK(rmdir(a) == 0 && rmdir(b) == 0);
}

/* As root: a tmpfs and a bind mount (same st_dev, another mount id) below the tree stay, with what
 * is in them and the directories above them; everything else goes. In a mount namespace of our
 * own, so nothing outlives the test. */
static void test_mounts(void) {
        _cleanup_free_ char *top = tmp_path("mounts"), *mnt = tmp_path("mounts/sub/tmpfs"),
                            *in_mnt = tmp_path("mounts/sub/tmpfs/file"),
                            *other = tmp_path("mounts/sub/other"), *bind = tmp_path("mounts/bind"),
                            *src = tmp_path("bind-source"), *in_src = tmp_path("bind-source/keep"),
                            *file = tmp_path("mounts/file");
        bool bound;

        if (geteuid() != 0) {
                printf("# mounts: skipped, not root\n");
                return;
        }
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("# mounts: skipped, no mount namespace: %m\n");
                return;
        }
        CHECK(mkdir_p(mnt, 0700) == 0);
        CHECK(mkdir(bind, 0700) == 0);
        CHECK(mkdir(src, 0700) == 0);
        if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
                printf("# mounts: skipped, cannot mount tmpfs: %m\n");
                CHECK_INT(rm_rf(top), 0);
                CHECK_INT(rm_rf(src), 0);
                return;
        }
        bound = CHECK(mount(src, bind, "none", MS_BIND, NULL) == 0);
        (void) make_file(in_mnt);
        (void) make_file(in_src);
        (void) make_file(other);
        (void) make_file(file);

        CHECK_INT(rm_rf(top), -EBUSY);
        CHECK(exists(in_mnt));
        CHECK(exists(in_src));
        CHECK(exists(mnt));
        CHECK(exists(bind));
        CHECK(!exists(other));
        CHECK(!exists(file));

        CHECK(umount(mnt) == 0);
        if (bound)
                CHECK(umount(bind) == 0);
        CHECK_INT(rm_rf(top), 0);
        CHECK(!exists(top));
        CHECK(exists(in_src));
        CHECK_INT(rm_rf(src), 0);
}

/* safe_fork() and pid_get_exe() */

/* The child's exit status, or 1000 + the signal that ended it. */
static int wait_status(pid_t pid) {
        int status;

        if (!CHECK(waitpid(pid, &status, 0) == pid))
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

static bool fd_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* What the child finds, as bits of its exit status. */
static int closed_fds_report(int a, int b, int c) {
        int bad = 0, n = 0;
        DIR *d;

        if (fd_open(a))
                bad |= 1;
        if (!fd_open(b))
                bad |= 2;
        if (fd_open(c))
                bad |= 4;
        /* Nothing else either: 0, 1, 2, b and the directory's own fd. */
        d = opendir("/proc/self/fd");
        if (!d)
                return bad | 8;
        /* Valgrind keeps fds of its own above the limit it reports to us: those do not count. */
        struct rlimit rl;
        long limit = getrlimit(RLIMIT_NOFILE, &rl) >= 0 ? (long) rl.rlim_cur : 1024;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.' && atol(de->d_name) < limit)
                        n++;
        closedir(d);
        if (n != 5)
                bad |= 16;
        return bad;
}

static void test_fork_close_fds(void) {
        _cleanup_close_ int a = open("/dev/null", O_RDONLY | O_CLOEXEC), b = open("/dev/null", O_RDONLY),
                            c = open("/dev/null", O_RDONLY);
        int keep[] = { -1, 1, b, b }; /* duplicates, stdio and negatives are ignored */
        pid_t pid = 0;
        int r;

        if (!CHECK(a >= 0 && b >= 0 && c >= 0))
                return;
        r = safe_fork_full("test-close", FORK_CLOSE_ALL_FDS, NULL, keep, ELEMENTSOF(keep), &pid);
        if (r == 0)
                _exit(closed_fds_report(a, b, c));
        CHECK_INT(r, 1);
        CHECK(pid > 0);
        CHECK_INT(wait_status(pid), 0);

        /* Without the flag the child has them all: the check above can fail. */
        r = safe_fork("test-no-close", 0, &pid);
        if (r == 0)
                _exit(closed_fds_report(a, b, c));
        CHECK_INT(wait_status(pid), 1 | 4 | 16);

        /* Every fd from 3 up goes without a list. */
        r = safe_fork("test-close-all", FORK_CLOSE_ALL_FDS, &pid);
        if (r == 0)
                _exit(fd_open(a) || fd_open(b) || fd_open(c) || !fd_open(2));
        CHECK_INT(wait_status(pid), 0);
}

static void on_usr1(int sig) {
}

static int signals_report(void) {
        struct sigaction sa;
        sigset_t mask;
        int bad = 0;

        if (sigaction(SIGUSR1, NULL, &sa) < 0 || sa.sa_handler != SIG_DFL)
                bad |= 1;
        if (sigaction(SIGUSR2, NULL, &sa) < 0 || sa.sa_handler != SIG_DFL)
                bad |= 2;
        if (sigprocmask(SIG_SETMASK, NULL, &mask) < 0 || sigismember(&mask, SIGTERM) ||
            sigismember(&mask, SIGCHLD))
                bad |= 4;
        return bad;
}

static void test_fork_reset_signals(void) {
        struct sigaction usr1 = { .sa_handler = on_usr1 }, ign = { .sa_handler = SIG_IGN }, old1, old2;
        sigset_t block, old_mask, now;
        pid_t pid = 0;
        int r;

        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGCHLD);
        CHECK(sigaction(SIGUSR1, &usr1, &old1) == 0);
        CHECK(sigaction(SIGUSR2, &ign, &old2) == 0);
        CHECK(sigprocmask(SIG_BLOCK, &block, &old_mask) == 0);

        r = safe_fork("test-signals", FORK_RESET_SIGNALS, &pid);
        if (r == 0)
                _exit(signals_report());
        CHECK_INT(r, 1);
        CHECK_INT(wait_status(pid), 0);

        /* Without the flag the child inherits all three, and the parent's mask is as it was. */
        r = safe_fork("test-signals-kept", 0, &pid);
        if (r == 0)
                _exit(signals_report());
        CHECK_INT(wait_status(pid), 1 | 2 | 4);
        CHECK(sigprocmask(SIG_SETMASK, NULL, &now) == 0);
        CHECK(sigismember(&now, SIGTERM) && sigismember(&now, SIGCHLD) && !sigismember(&now, SIGUSR1));

        CHECK(sigprocmask(SIG_SETMASK, &old_mask, NULL) == 0);
        CHECK(sigaction(SIGUSR1, &old1, NULL) == 0);
        CHECK(sigaction(SIGUSR2, &old2, NULL) == 0);
}

/* A middle process forks a grandchild with the flags, waits until the grandchild is past
 * safe_fork() (the death signal set, the parent-died check done) and exits. We are the
 * subreaper, so the grandchild becomes our child: it must die of the signal, not block on a pipe
 * nobody writes to. */
static void deathsig_case(ForkFlags flags, int expected) {
        int report[2], ready[2], hold[2];
        pid_t middle, grandchild = 0;
        _cleanup_close_ int pidfd = -EBADF;

        if (!CHECK(pipe2(report, O_CLOEXEC) == 0 && pipe2(ready, O_CLOEXEC) == 0 &&
                   pipe2(hold, O_CLOEXEC) == 0))
                return;
        middle = fork();
        if (middle == 0) {
                pid_t pid;
                char c = 'r';
                int r = safe_fork("test-deathsig", flags, &pid);

                if (r == 0) {
                        (void) write(ready[1], &c, 1);
                        (void) read(hold[0], &c, 1); /* never returns: hold[1] stays open */
                        _exit(3);
                }
                safe_close(ready[1]);
                if (r < 0 || read(ready[0], &c, 1) != 1)
                        _exit(1);
                _exit(write(report[1], &pid, sizeof(pid)) == sizeof(pid) ? 0 : 1);
        }
        safe_close(report[1]);
        safe_close(ready[0]);
        safe_close(ready[1]);
        safe_close(hold[0]);
        CHECK(middle > 0);
        CHECK_INT(wait_status(middle), 0);
        CHECK_INT(read(report[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
        safe_close(report[0]);
        if (grandchild <= 0) {
                safe_close(hold[1]);
                return;
        }

        pidfd = (int) syscall(SYS_pidfd_open, grandchild, 0);
        /* Without pidfd_open() (valgrind 3.19) there is no bounded wait here: wait_status() below
         * returns when the death signal came (else the suite's timeout ends the test). */
        if ((pidfd >= 0 || errno != ENOSYS) && CHECK(pidfd >= 0) &&
            !CHECK_INT(poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 10000), 1))
                (void) kill(grandchild, SIGKILL);
        safe_close(hold[1]);
        CHECK_INT(wait_status(grandchild), expected);
}

static void test_fork_deathsig(void) {
        if (!CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0))
                return;
        deathsig_case(FORK_DEATHSIG_SIGTERM, 1000 + SIGTERM);
        deathsig_case(FORK_DEATHSIG_SIGKILL | FORK_RESET_SIGNALS, 1000 + SIGKILL);
        /* Both death signals make no sense. */
        CHECK_INT(safe_fork("test-deathsig-both", FORK_DEATHSIG_SIGTERM | FORK_DEATHSIG_SIGKILL, NULL),
                  -EINVAL);
        CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
}

static bool is_dev_null(int fd) {
        struct stat st, null;

        return fstat(fd, &st) == 0 && stat("/dev/null", &null) == 0 && S_ISCHR(st.st_mode) &&
                        st.st_rdev == null.st_rdev;
}

static void test_fork_stdio(void) {
        char buf[8] = {};
        int out[2], err[2];
        pid_t pid = 0, outer;
        int r;

        r = safe_fork("test-null-stdio", FORK_NULL_STDIO, &pid);
        if (r == 0)
                _exit((is_dev_null(0) ? 0 : 1) | (is_dev_null(1) ? 0 : 2) | (is_dev_null(2) ? 0 : 4));
        CHECK_INT(wait_status(pid), 0);

        /* Given fds, -1 for /dev/null; the pipe's end is kept at 1 and 2 only. */
        if (!CHECK(pipe2(out, O_CLOEXEC) == 0))
                return;
        r =
                        safe_fork_full("test-stdio",
                                       FORK_REARRANGE_STDIO | FORK_CLOSE_ALL_FDS,
                                       (const int[]){ -1, out[1], out[1] },
                                       NULL,
                                       0,
                                       &pid);
        if (r == 0) {
                bool ok = is_dev_null(0) && !fd_open(out[0]) && !fd_open(out[1]) && write(1, "o", 1) == 1 &&
                                write(2, "e", 1) == 1;
                _exit(ok ? 0 : 1);
        }
        safe_close(out[1]);
        CHECK_INT(wait_status(pid), 0);
        CHECK_INT(read(out[0], buf, sizeof(buf) - 1), 2);
        CHECK(streq(buf, "oe"));
        safe_close(out[0]);

        /* stdout and stderr swapped: each is copied out of the way before the other is moved. */
        if (!CHECK(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0))
                return;
        outer = fork();
        if (outer == 0) {
                if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
                        _exit(10);
                r = safe_fork_full(
                                "test-swap", FORK_REARRANGE_STDIO, (const int[]){ 0, 2, 1 }, NULL, 0, &pid);
                if (r == 0)
                        _exit(write(1, "1", 1) == 1 && write(2, "2", 1) == 1 ? 0 : 1);
                _exit(r > 0 ? wait_status(pid) : 11);
        }
        safe_close(out[1]);
        safe_close(err[1]);
        CHECK_INT(wait_status(outer), 0);
        memset(buf, 0, sizeof(buf));
        CHECK_INT(read(out[0], buf, sizeof(buf) - 1), 1);
        CHECK(streq(buf, "2"));
        memset(buf, 0, sizeof(buf));
        CHECK_INT(read(err[0], buf, sizeof(buf) - 1), 1);
        CHECK(streq(buf, "1"));
        safe_close(out[0]);
        safe_close(err[0]);

        CHECK_INT(safe_fork("test-both-stdio", FORK_NULL_STDIO | FORK_REARRANGE_STDIO, NULL), -EINVAL);
}

static void test_fork_session(void) {
        pid_t pid = 0;
        int r;

        r = safe_fork("test-session", FORK_NEW_SESSION, &pid);
        if (r == 0)
                _exit(getsid(0) == getpid() ? 0 : 1);
        CHECK_INT(wait_status(pid), 0);
        r = safe_fork("test-no-session", 0, &pid);
        if (r == 0)
                _exit(getsid(0) == getpid() ? 0 : 1);
        CHECK_INT(wait_status(pid), 1);
}

static bool copy_file(const char *from, const char *to) {
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC),
                            out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        char buf[65536];
        ssize_t k;

        if (in < 0 || out < 0)
                return false;
        while ((k = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t) k) != k)
                        return false;
        return k == 0;
}

static void test_pid_get_exe(void) {
        _cleanup_free_ char *self = NULL, *self2 = NULL, *exe = NULL, *copy = tmp_path("cat-copy");
        siginfo_t si = {};
        int hold[2], execd[2];
        pid_t pid;
        char c;

        CHECK_INT(pid_get_exe(0, &self), 0);
        CHECK_INT(pid_get_exe(getpid(), &self2), 0);
        if (CHECK(self && self2)) {
                CHECK(self[0] == '/');
                CHECK(streq(self, self2));
                CHECK(strstr(self, "test-util"));
        }
        CHECK_INT(pid_get_exe(-1, &exe), -EINVAL);

        /* A zombie runs no program; once reaped it is gone. */
        pid = fork();
        if (pid == 0)
                _exit(0);
        CHECK(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT) == 0);
        CHECK_INT(pid_get_exe(pid, &exe), -ENOENT);
        CHECK_INT(wait_status(pid), 0);
        CHECK_INT(pid_get_exe(pid, &exe), -ESRCH);
        CHECK(!exe);

        /* A program deleted while it runs: the path without " (deleted)", and 1. */
        if (!copy_file("/bin/cat", copy)) {
                printf("# pid_get_exe: no /bin/cat to copy, the deleted case is not tested\n");
                (void) unlink(copy);
                return;
        }
        if (!CHECK(pipe2(hold, O_CLOEXEC) == 0 && pipe2(execd, O_CLOEXEC) == 0))
                return;
        pid = fork();
        if (pid == 0) {
                /* execd[1] closes on exec: EOF tells the parent it is done. */
                if (dup2(hold[0], 0) < 0)
                        _exit(126);
                execl(copy, copy, NULL);
                c = 'x';
                (void) write(execd[1], &c, 1);
                _exit(127);
        }
        safe_close(hold[0]);
        safe_close(execd[1]);
        if (read(execd[0], &c, 1) == 1)
                printf("# pid_get_exe: cannot exec in %s (noexec?), the deleted case is not tested\n", tmp);
        else {
                CHECK_INT(pid_get_exe(pid, &exe), 0);
                CHECK(exe && streq(exe, copy));
                exe = mfree(exe);
                CHECK(unlink(copy) == 0);
                CHECK_INT(pid_get_exe(pid, &exe), 1);
                CHECK(exe && streq(exe, copy));
        }
        safe_close(execd[0]);
        safe_close(hold[1]); /* cat reads EOF and exits */
        (void) wait_status(pid);
        (void) unlink(copy);
}

/* String tables */

typedef enum Fruit {
        FRUIT_APPLE,
        FRUIT_PEAR,
        FRUIT_UNNAMED, /* a hole in the table */
        FRUIT_PLUM,
        _FRUIT_MAX,
        _FRUIT_INVALID = -EINVAL,
} Fruit;

static const char *const fruit_table[_FRUIT_MAX] = {
        [FRUIT_APPLE] = "apple",
        [FRUIT_PEAR] = "pear",
        [FRUIT_PLUM] = "plum",
};

DEFINE_PRIVATE_STRING_TABLE_LOOKUP(fruit, Fruit);

static void test_string_table(void) {
        for (Fruit f = 0; f < _FRUIT_MAX; f++)
                if (f != FRUIT_UNNAMED)
                        CHECK_INT(fruit_from_string(fruit_to_string(f)), f);
        CHECK(streq(fruit_to_string(FRUIT_PEAR), "pear"));
        CHECK(!fruit_to_string(FRUIT_UNNAMED));
        CHECK(!fruit_to_string(_FRUIT_MAX));
        CHECK(!fruit_to_string(_FRUIT_INVALID));
        CHECK(!fruit_to_string((Fruit) -1));
        CHECK_INT(fruit_from_string(NULL), _FRUIT_INVALID);
        CHECK_INT(fruit_from_string(""), _FRUIT_INVALID);
        CHECK_INT(fruit_from_string("Apple"), _FRUIT_INVALID);
        CHECK_INT(fruit_from_string("apple "), _FRUIT_INVALID);
        CHECK_INT(fruit_from_string("cherry"), _FRUIT_INVALID);

        /* The tables of the tree: every value has a name that reads back as itself. */
        for (Backend b = 0; b < _BACKEND_MAX; b++)
                CHECK_INT(backend_from_string(backend_to_string(b)), b);
        for (RestartPolicy p = 0; p < _RESTART_MAX; p++)
                CHECK_INT(restart_policy_from_string(restart_policy_to_string(p)), p);
        for (GpuMode m = 0; m < _GPU_MODE_MAX; m++)
                CHECK_INT(gpu_mode_from_string(gpu_mode_to_string(m)), m);
        for (TapKind k = 0; k < _TAP_KIND_MAX; k++)
                CHECK_INT(tap_kind_from_string(tap_kind_to_string(k)), k);
        for (FirewallMode m = 0; m < _FIREWALL_MAX; m++)
                CHECK_INT(firewall_mode_from_string(firewall_mode_to_string(m)), m);
        CHECK_INT(backend_from_string(NULL), _BACKEND_INVALID);
        CHECK_INT(gpu_mode_from_string("auto"), _GPU_MODE_INVALID);
        CHECK(!restart_policy_to_string(_RESTART_MAX));
}

/* A failed assertion (SIGABRT) or the suite's timeout (SIGTERM) must not leave the test's
 * directory behind. Only this process cleans up: the children it forks inherit the handler. */
static pid_t main_pid;
static void cleanup_and_die(int sig) {
        if (getpid() == main_pid && tmp)
                (void) rm_rf(tmp);
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "missing", test_missing },
                { "deep_40", test_deep_40 },
                { "deep_5000", test_deep_5000 },
                { "wide", test_wide },
                { "symlinks", test_symlinks },
                { "kinds", test_kinds },
                { "unremovable", test_unremovable },
                { "file_id", test_file_id },
                { "mounts", test_mounts },
                { "fork_close_fds", test_fork_close_fds },
                { "fork_reset_signals", test_fork_reset_signals },
                { "fork_deathsig", test_fork_deathsig },
                { "fork_stdio", test_fork_stdio },
                { "fork_session", test_fork_session },
                { "pid_get_exe", test_pid_get_exe },
                { "string_table", test_string_table },
        };
        char template[] = "/var/tmp/test-util-XXXXXX";

        tmp = mkdtemp(template);
        if (!tmp) {
                fprintf(stderr, "mkdtemp(%s): %m\n", template);
                return EXIT_FAILURE;
        }
        main_pid = getpid();
        (void) signal(SIGABRT, cleanup_and_die);
        (void) signal(SIGTERM, cleanup_and_die);
        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                unsigned before = n_failed;

                tests[i].func();
                printf("%s %zu - util: %s\n", n_failed == before ? "ok" : "not ok", i + 1, tests[i].name);
                fflush(stdout);
        }
        if (rmdir(tmp) < 0) {
                fprintf(stderr, "rmdir(%s): %m (something was left behind)\n", tmp);
                n_failed++;
                (void) rm_rf(tmp);
        }
        if (n_failed > 0)
                fprintf(stderr, "%u checks failed\n", n_failed);
        return n_failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
