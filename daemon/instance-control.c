/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/time-util.h"
#include "daemon/backend.h"
#include "daemon/instance-control.h"
#include "daemon/instance.h"
#include "daemon/manager.h"
#include "daemon/reap.h"

#define CONTROL_TIMEOUT_USEC (10 * USEC_PER_SEC)

static void control_reset(InstanceControl *c) {
        c->exit_source = sd_event_source_disable_unref(c->exit_source);
        c->timeout_source = sd_event_source_disable_unref(c->timeout_source);
        c->pidfd = safe_close(c->pidfd);
        c->pid = 0;
}

static int on_control_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Instance *i = userdata;
        siginfo_t si = {};
        int status = INT32_MIN, action = i->control.action;

        if (waitid(P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) >= 0 && si.si_pid > 0)
                status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
        else if (si.si_pid == 0)
                return 0; /* spurious wake-up */
        control_reset(&i->control);
        if (i->ops && i->ops->control_done)
                i->ops->control_done(i, action, status);
        return 0;
}

static int on_control_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        instance_log(i, LOG_WARNING, "control command did not finish within 10 s; killing it");
        i->control.timeout_source = sd_event_source_disable_unref(i->control.timeout_source);
        if (i->control.pidfd >= 0)
                (void) syscall(SYS_pidfd_send_signal, i->control.pidfd, SIGKILL, NULL, 0);
        return 0;
}

/* In the child safe_fork() made: the daemon's blocked signals, its fds and its session are not
 * the command's business any more. */
static _noreturn_ void control_child(
                Instance *i, int action, char **argv, int (*func)(Instance *i, int action)) {
        static char *const env[] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", NULL };

        /* The owner's credentials: the socket is in the owner's directory, talked to as them. */
        if (setgroups(i->n_groups, i->n_groups > 0 ? i->groups : NULL) < 0 ||
            setresgid(i->owner_gid, i->owner_gid, i->owner_gid) < 0 ||
            setresuid(i->owner, i->owner, i->owner) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(126);
        if (i->owner != 0 && setuid(0) >= 0)
                _exit(126);

        if (argv) {
                execve(argv[0], argv, env);
                _exit(127);
        }
        _exit(func(i, action));
}

int instance_run_control(Instance *i, int action, char **argv, int (*func)(Instance *i, int action)) {
        sd_event *e = i->manager->event;
        pid_t pid;
        int r;

        if (i->control.pid > 0)
                return -EBUSY;
        if (!argv && !func)
                return -EINVAL;

        r = safe_fork("control command",
                      FORK_RESET_SIGNALS | FORK_NULL_STDIO | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION |
                                      FORK_LOG,
                      &pid);
        if (r < 0)
                return r;
        if (r == 0)
                control_child(i, action, argv, func);

        i->control.pid = pid;
        i->control.action = action;
        i->control.pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        r = i->control.pidfd < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_add_io(
                                e, &i->control.exit_source, i->control.pidfd, EPOLLIN, on_control_exit, i);
        if (r >= 0)
                r = sd_event_add_time_relative(
                                e,
                                &i->control.timeout_source,
                                CLOCK_MONOTONIC,
                                CONTROL_TIMEOUT_USEC,
                                USEC_PER_MSEC,
                                on_control_timeout,
                                i);
        if (r < 0) {
                instance_control_abort(i);
                return r;
        }
        return 0;
}

void instance_control_abort(Instance *i) {
        pid_t pid = i->control.pid;

        if (pid <= 0)
                return;
        (void) kill(pid, SIGKILL);
        control_reset(&i->control);
        /* Dead at once (SIGKILL), but not waited for here: the loop reaps it. */
        if (reap_child_detached(i->manager->event, pid) < 0)
                (void) waitpid(pid, NULL, WNOHANG);
}

static int on_control_socket_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        i->control.retry_source = sd_event_source_disable_unref(i->control.retry_source);
        if (i->ops && i->ops->connect)
                (void) i->ops->connect(i);
        return 0;
}

/* The socket lives in the owner's directory: lstat only, never follow, never open it as root. */
int instance_wait_control_socket(Instance *i, uint64_t interval_usec, unsigned attempts) {
        struct stat st;

        instance_control_stop_waiting(i);
        if (!instance_is_active(i))
                return 0;
        if (lstat(i->control_path, &st) >= 0 && S_ISSOCK(st.st_mode)) {
                instance_notify_control_ready(i);
                return 0;
        }
        if (++i->control.attempts > attempts) {
                instance_log(i, LOG_WARNING, "control socket %s never appeared", i->control_path);
                return -ETIMEDOUT;
        }
        /* The accuracy is explicit: sd-event's default (250 ms) would make each retry late. */
        return sd_event_add_time_relative(
                        i->manager->event,
                        &i->control.retry_source,
                        CLOCK_MONOTONIC,
                        interval_usec,
                        USEC_PER_MSEC,
                        on_control_socket_retry,
                        i);
}

void instance_control_stop_waiting(Instance *i) {
        i->control.retry_source = sd_event_source_disable_unref(i->control.retry_source);
}
