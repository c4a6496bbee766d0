/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "util.h"

int parse_uint32(const char *s, uint32_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || !isdigit((unsigned char) *s))
                return -EINVAL;
        /* No octal surprises: "010" is ten, and "0x10" is rejected. */
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno > 0)
                return -errno;
        if (*end)
                return -EINVAL;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

char **strv_free(char **l) {
        STRV_FOREACH(s, l)
                free(*s);
        return mfree(l);
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

int strv_push(char ***l, char *value) {
        size_t n = strv_length(*l);
        char **c;

        c = reallocarray(*l, n + 2, sizeof(char *));
        if (!c) {
                free(value);
                return -ENOMEM;
        }
        c[n] = value;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_split(const char *s, const char *separators, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        while (s && *s) {
                size_t n;

                s += strspn(s, separators);
                n = strcspn(s, separators);
                if (n == 0)
                        break;

                char *e = strndup(s, n);

                if (!e)
                        return -ENOMEM;
                r = strv_push(&l, e);
                if (r < 0)
                        return r;
                s += n;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

char *strstrip(char *s) {
        char *e;

        s += strspn(s, " \t\r\n");
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                e--;
        *e = 0;
        return s;
}

char *escape_nonprintable(char *s) {
        _cleanup_free_ char *orig = s;
        size_t n = 0;
        char *e, *o;

        if (!s)
                return NULL;
        for (const char *c = s; *c; c++)
                n += (unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f ? 4 : 1;
        e = o = malloc(n + 1);
        if (!e)
                return NULL;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c >= 0x7f)
                        o += sprintf(o, "\\x%02x", *c);
                else
                        *o++ = (char) *c;
        *o = 0;
        return e;
}

bool ifname_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n >= IFNAMSIZ)
                return false;
        if (streq(name, ".") || streq(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == '/' || *p == ':' || (unsigned char) *p >= 127)
                        return false;
        return true;
}

int read_full_file(const char *path, char **ret_contents, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        for (;;) {
                ssize_t k;

                if (allocated - n < 4096) {
                        char *b;

                        if (allocated > 16 * 1024 * 1024)
                                return -EFBIG;
                        allocated = MAX(allocated * 2, (size_t) 8192);
                        b = realloc(buf, allocated);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }

                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }

        buf[n] = 0;
        *ret_contents = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int write_file_atomic(const char *path, const char *contents, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp.%i", path, (int) getpid()) < 0)
                return -ENOMEM;

        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0) {
                r = -errno;
                goto fail;
        }

        r = write_all(fd, contents, strlen(contents));
        if (r < 0)
                goto fail;
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;

fail:
        (void) unlink(tmp);
        return r;
}

int write_string_file(const char *path, const char *contents) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return write_all(fd, contents, strlen(contents));
}

int read_one_line_file(const char *path, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_full_file(path, &s, NULL);
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = 0;
        *ret = TAKE_PTR(s);
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

char *path_join(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

uint64_t now_usec(int clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

int wait_pid_exit(pid_t pid, int timeout_msec) {
        _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        int r;

        if (pidfd < 0)
                return errno == ESRCH ? 0 : -errno;
        do
                r = poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, timeout_msec);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        return r == 0 ? -ETIMEDOUT : 0;
}

int pid_get_starttime(pid_t pid, uint64_t *ret) {
        _cleanup_free_ char *path = NULL, *stat = NULL;
        unsigned long long t;
        const char *p;
        int r;

        if (asprintf(&path, "/proc/%i/stat", (int) pid) < 0)
                return -ENOMEM;
        r = read_full_file(path, &stat, NULL);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;

        /* The command name may hold spaces and parentheses: skip past the last ')'. */
        p = strrchr(stat, ')');
        if (!p)
                return -EIO;
        p++;
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        if (sscanf(p, " %llu", &t) != 1)
                return -EIO;
        *ret = t;
        return 0;
}

#define RM_RF_DEPTH_MAX 32

static int rm_rf_children_fd(int dfd, unsigned depth) {
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (depth > RM_RF_DEPTH_MAX) {
                safe_close(dfd);
                return -ELOOP;
        }
        d = fdopendir(dfd);
        if (!d) {
                r = -errno;
                safe_close(dfd);
                return r;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        /* Relative to the fd and never through a symlink: a rename under us
                         * cannot lead us outside the tree. */
                        int sub =
                                        openat(dirfd(d),
                                               de->d_name,
                                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                int q = rm_rf_children_fd(sub, depth + 1);
                                if (q < 0 && r == 0)
                                        r = q;
                        }
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                                r = -errno;
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0)
                        r = -errno;
        }
        closedir(d);
        return r;
}

int rm_rf(const char *path) {
        int fd, r;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = rm_rf_children_fd(fd, 0);
        if (rmdir(path) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

ssize_t read_bounded(int fd, char *buf, size_t size, int timeout_msec, bool stop_at_newline) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) timeout_msec * USEC_PER_MSEC;
        size_t n = 0;

        if (size == 0)
                return -EINVAL;
        while (n < size - 1) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                ssize_t k;
                int p;

                if (now >= deadline) {
                        buf[n] = 0;
                        return -ETIMEDOUT;
                }
                p = poll(&(struct pollfd){ .fd = fd, .events = POLLIN },
                         1,
                         (int) ((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (p < 0 && errno != EINTR)
                        break;
                if (p <= 0)
                        continue;
                k = read(fd, buf + n, size - 1 - n);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (stop_at_newline && memchr(buf, '\n', n))
                        break;
        }
        buf[n] = 0;
        return (ssize_t) n;
}
