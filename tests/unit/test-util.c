/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rm_rf(): deep and wide trees with bounded fds, symlinks, every file type, mounts (as root), and
 * the identity checks the walk relies on. Everything happens below a mkdtemp() directory in
 * /var/tmp. */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/fs-util.h"
#include "common/macro.h"

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

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "missing", test_missing },         { "deep_40", test_deep_40 },
                { "deep_5000", test_deep_5000 },     { "wide", test_wide },
                { "symlinks", test_symlinks },       { "kinds", test_kinds },
                { "unremovable", test_unremovable }, { "file_id", test_file_id },
                { "mounts", test_mounts },
        };
        char template[] = "/var/tmp/test-util-XXXXXX";

        tmp = mkdtemp(template);
        if (!tmp) {
                fprintf(stderr, "mkdtemp(%s): %m\n", template);
                return EXIT_FAILURE;
        }
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
