/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/process-util.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"

/* Closes first..last (both included). */
static int close_between(unsigned first, unsigned last) {
        struct rlimit rl;

        if (first > last)
                return 0;
        if (close_range(first, last, 0) >= 0)
                return 0;
        if (errno != ENOSYS)
                return -errno;

        /* Kernels before 5.9. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        for (rlim_t fd = first; fd <= last && fd < rl.rlim_max && fd < INT_MAX; fd++)
                (void) close((int) fd);
        return 0;
}

int close_from(int first) {
        return close_between((unsigned) MAX(first, 0), ~0U);
}

int close_all_fds_except(const int except_fds[], size_t n_except_fds) {
        int next = 3, r;

        /* The gaps between the kept fds, lowest first; no allocation (a forked child may call this). */
        for (;;) {
                int keep = INT_MAX;

                for (size_t i = 0; i < n_except_fds; i++)
                        if (except_fds[i] >= next && except_fds[i] < keep)
                                keep = except_fds[i];
                if (keep == INT_MAX)
                        return close_from(next);
                r = close_between((unsigned) next, (unsigned) keep - 1);
                if (r < 0)
                        return r;
                next = keep + 1;
        }
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

#define DELETED_SUFFIX " (deleted)"

int pid_get_exe(pid_t pid, char **ret) {
        char path[32];

        if (pid < 0 || !ret)
                return -EINVAL;
        if (pid == 0)
                (void) snprintf(path, sizeof(path), "/proc/self/exe");
        else
                (void) snprintf(path, sizeof(path), "/proc/%i/exe", (int) pid);

        for (size_t size = 256;; size *= 2) {
                _cleanup_free_ char *buf = malloc(size);
                size_t n, suffix = strlen(DELETED_SUFFIX);
                ssize_t k;
                bool deleted;

                if (!buf)
                        return -ENOMEM;
                k = readlink(path, buf, size);
                if (k < 0) {
                        if (errno != ENOENT || pid == 0)
                                return -errno;
                        /* No link: the process is gone, or it runs no program (a kernel thread, a
                         * zombie). */
                        (void) snprintf(path, sizeof(path), "/proc/%i", (int) pid);
                        return access(path, F_OK) < 0 ? -ESRCH : -ENOENT;
                }
                n = (size_t) k;
                if (n >= size) {
                        if (size >= 64 * 1024)
                                return -ENAMETOOLONG;
                        continue; /* perhaps truncated */
                }
                buf[n] = 0;
                deleted = n > suffix && streq(buf + n - suffix, DELETED_SUFFIX);
                if (deleted)
                        buf[n - suffix] = 0;
                *ret = TAKE_PTR(buf);
                return deleted;
        }
}

/* Fork */

static int reset_signals(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        /* SIGKILL and SIGSTOP cannot be changed, and glibc refuses its internal real-time signals
         * with EINVAL: those keep their (default) disposition anyway. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
        if (sigemptyset(&none) < 0 || sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                return -errno;
        return 0;
}

/* Moves fds[i] (or /dev/null where fds is NULL or fds[i] < 0) to i, for 0, 1, 2. A source that is
 * itself 0, 1 or 2 but not its own target is copied out of the way first, so no move overwrites a
 * source still to be moved. */
static int rearrange_stdio(const int fds[3]) {
        _cleanup_close_ int null_fd = -EBADF;
        int src[3], copies[3] = { -EBADF, -EBADF, -EBADF }, r = 0;

        for (int i = 0; i < 3 && r >= 0; i++) {
                int fd = fds ? fds[i] : -EBADF;

                if (fd < 0) {
                        if (null_fd < 0) {
                                null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                                if (null_fd < 0)
                                        r = -errno;
                                else if (null_fd < 3) {
                                        int above = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);

                                        r = above < 0 ? -errno : 0;
                                        safe_close(null_fd);
                                        null_fd = above;
                                }
                        }
                        fd = null_fd;
                } else if (fd < 3 && fd != i) {
                        copies[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                        if (copies[i] < 0)
                                r = -errno;
                        fd = copies[i];
                }
                src[i] = fd;
        }

        for (int i = 0; i < 3 && r >= 0; i++)
                if (src[i] == i) {
                        /* Kept where it is: it is stdio now, so not close-on-exec (and one the
                         * parent had closed stays closed). */
                        if (fcntl(i, F_SETFD, 0) < 0 && errno != EBADF)
                                r = -errno;
                } else if (dup2(src[i], i) < 0)
                        r = -errno;

        for (int i = 0; i < 3; i++)
                safe_close(copies[i]);
        return r;
}

static _noreturn_ void fork_child_fail(int prio, const char *name, int r, const char *what) {
        (void) log_full_errno(prio, r, "%s: failed to %s: %m", name ?: "child", what);
        _exit(EXIT_FAILURE);
}

/* The child's steps, in this order: death signal, signals, parent-died check, new session, stdio,
 * fds. saved: the signal mask to restore (the parent blocked everything across fork()), or NULL. */
static void fork_child_setup(
                const char *name,
                ForkFlags flags,
                int prio,
                int deathsig,
                pid_t parent,
                const sigset_t *saved,
                const int stdio_fds[3],
                const int except_fds[],
                size_t n_except_fds) {
        int r;

        if (deathsig > 0 && prctl(PR_SET_PDEATHSIG, deathsig) < 0)
                fork_child_fail(prio, name, -errno, "set the death signal");

        if (flags & FORK_RESET_SIGNALS) {
                r = reset_signals();
                if (r < 0)
                        fork_child_fail(prio, name, r, "reset the signals");
        } else if (saved && sigprocmask(SIG_SETMASK, saved, NULL) < 0)
                fork_child_fail(prio, name, -errno, "restore the signal mask");

        if (deathsig > 0) {
                pid_t ppid = getppid();

                /* The parent died before the death signal was set: as if it had come. (0: the
                 * parent is in another pid namespace, nothing to compare.) */
                if (ppid != 0 && ppid != parent) {
                        (void) raise(deathsig);
                        _exit(EXIT_FAILURE);
                }
        }

        if ((flags & FORK_NEW_SESSION) && setsid() < 0)
                fork_child_fail(prio, name, -errno, "start a new session");

        if (flags & (FORK_NULL_STDIO | FORK_REARRANGE_STDIO)) {
                r = rearrange_stdio(flags & FORK_REARRANGE_STDIO ? stdio_fds : NULL);
                if (r < 0)
                        fork_child_fail(prio, name, r, "set up stdin, stdout and stderr");
        }

        if (flags & FORK_CLOSE_ALL_FDS) {
                r = close_all_fds_except(except_fds, n_except_fds);
                if (r < 0)
                        fork_child_fail(prio, name, r, "close the inherited fds");
        }
}

int safe_fork_full(
                const char *name,
                ForkFlags flags,
                const int stdio_fds[3],
                const int except_fds[],
                size_t n_except_fds,
                pid_t *ret_pid) {
        int prio = flags & FORK_LOG ? LOG_ERR : LOG_DEBUG, deathsig = 0, r;
        pid_t parent = getpid(), pid;
        bool blocked = false;
        sigset_t all, saved;

        if ((flags & FORK_DEATHSIG_SIGTERM) && (flags & FORK_DEATHSIG_SIGKILL))
                return -EINVAL;
        if ((flags & FORK_NULL_STDIO) && (flags & FORK_REARRANGE_STDIO))
                return -EINVAL;
        if (flags & FORK_DEATHSIG_SIGTERM)
                deathsig = SIGTERM;
        else if (flags & FORK_DEATHSIG_SIGKILL)
                deathsig = SIGKILL;

        /* Everything blocked across fork(): a SIGTERM sent to the new child before it has reset
         * the parent's handlers stays pending instead of running one of them. */
        if (flags & (FORK_RESET_SIGNALS | FORK_DEATHSIG_SIGTERM)) {
                if (sigfillset(&all) < 0 || sigprocmask(SIG_SETMASK, &all, &saved) < 0)
                        return log_full_errno(
                                        prio,
                                        -errno,
                                        "Failed to block signals to fork off %s: %m",
                                        name ?: "a child");
                blocked = true;
        }

        pid = fork();
        if (pid < 0) {
                r = -errno;
                if (blocked)
                        (void) sigprocmask(SIG_SETMASK, &saved, NULL);
                return log_full_errno(prio, r, "Failed to fork off %s: %m", name ?: "a child");
        }
        if (pid > 0) {
                if (blocked)
                        (void) sigprocmask(SIG_SETMASK, &saved, NULL);
                log_debug("Forked off %s (pid %i).", name ?: "a child", (int) pid);
                if (ret_pid)
                        *ret_pid = pid;
                return 1;
        }

        /* The child. */
        fork_child_setup(
                        name,
                        flags,
                        prio,
                        deathsig,
                        parent,
                        blocked ? &saved : NULL,
                        stdio_fds,
                        except_fds,
                        n_except_fds);
        if (ret_pid)
                *ret_pid = getpid();
        return 0;
}
