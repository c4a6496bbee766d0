/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Closes every fd from first up (a forked child that does not exec keeps nothing of its parent:
 * the bus, the runtime dir's lock). */
int close_from(int first);
/* Closes every fd from 3 up except those in except_fds (entries below 3 are ignored). */
int close_all_fds_except(const int except_fds[], size_t n_except_fds);
/* Waits up to timeout_msec for pid to exit (through a pidfd; does not reap). 0 once it is gone,
 * -ETIMEDOUT if it still runs. */
int wait_pid_exit(pid_t pid, int timeout_msec);
/* Reads field 22 of /proc/PID/stat: the start time in clock ticks after boot. */
int pid_get_starttime(pid_t pid, uint64_t *ret);
/* The program pid runs (0: this process), as /proc/PID/exe names it. A binary replaced or deleted
 * under the process (a package upgrade) reads "PATH (deleted)": the suffix is cut off and 1 is
 * returned, else 0. -ESRCH when the process is gone, -ENOENT when it has no program (a kernel
 * thread or a zombie), -EACCES/-EPERM for another user's process without the privilege. */
int pid_get_exe(pid_t pid, char **ret);

/* The one way to fork (systemd's safe_fork_full() is the model). In the child the steps run in
 * this order: death signal, signals, parent-died check, new session, stdio, closing fds. A step
 * that fails ends the child with _exit(EXIT_FAILURE) (logged at error level with FORK_LOG, else at
 * debug). The child does not exec: the caller does that, or _exit()s. */
typedef enum ForkFlags {
        FORK_RESET_SIGNALS = 1 << 0,    /* default dispositions, empty signal mask */
        FORK_CLOSE_ALL_FDS = 1 << 1,    /* close every fd from 3 up but the except_fds */
        FORK_DEATHSIG_SIGTERM = 1 << 2, /* PR_SET_PDEATHSIG; if the parent already died, the */
        FORK_DEATHSIG_SIGKILL = 1 << 3, /* child raises the signal itself */
        FORK_NULL_STDIO = 1 << 4,       /* stdin, stdout and stderr to /dev/null */
        FORK_REARRANGE_STDIO = 1 << 5,  /* stdin, stdout, stderr from stdio_fds[] (see below) */
        FORK_NEW_SESSION = 1 << 6,      /* setsid() */
        FORK_LOG = 1 << 7,              /* log a failure at error level, with the name */
} ForkFlags;

/* Returns 1 in the parent, 0 in the child, a negative errno if no child was made. *ret_pid (may
 * be NULL) is the child's pid, in both: test the return value, not the pid. stdio_fds is read with
 * FORK_REARRANGE_STDIO only: a negative entry is /dev/null, i at [i] is left as it is (no longer
 * close-on-exec), anything else is dup2()ed there (it may be an fd that FORK_CLOSE_ALL_FDS then
 * closes). except_fds is read with FORK_CLOSE_ALL_FDS only; the kept fds keep their close-on-exec
 * flag. name is for the log. */
int safe_fork_full(
                const char *name,
                ForkFlags flags,
                const int stdio_fds[3],
                const int except_fds[],
                size_t n_except_fds,
                pid_t *ret_pid);

static inline int safe_fork(const char *name, ForkFlags flags, pid_t *ret_pid) {
        return safe_fork_full(name, flags, NULL, NULL, 0, ret_pid);
}
