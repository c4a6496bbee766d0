/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/time-util.h"
#include "common/macro.h"

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

int write_all(int fd, const void *buf, size_t n) {
        const char *p = buf;

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
