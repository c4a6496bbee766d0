/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/process-util.h"
#include "common/fileio.h"
#include "common/macro.h"

int close_from(int first) {
        struct rlimit rl;

        if (close_range((unsigned) first, ~0U, 0) >= 0)
                return 0;
        if (errno != ENOSYS)
                return -errno;

        /* Kernels before 5.9. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        for (rlim_t fd = (rlim_t) first; fd < rl.rlim_max && fd < INT_MAX; fd++)
                (void) close((int) fd);
        return 0;
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
