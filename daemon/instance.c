/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "daemon/backend.h"
#include "vmm/cvd.h"
#include "common/bus-api.h"
#include "daemon/instance.h"
#include "daemon/instance-options.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "netsetup/plan.h"
#include "daemon/reap.h"
#include "vmm/sandbox.h"
#include "netsetup/tap.h"
#include "common/escape.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/strv.h"
#include "common/time-util.h"

#define STOP_TIMEOUT_DEFAULT_SEC 10
#define KILL_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define CONSOLE_READ_MAX (64 * 1024)
#define CONSOLE_SCAN_MAX (4 * 1024 * 1024)

static const char *const state_table[_INSTANCE_STATE_MAX] = {
        [INSTANCE_CREATING] = "creating",   [INSTANCE_STARTING] = "starting", [INSTANCE_RUNNING] = "running",
        [INSTANCE_SUSPENDED] = "suspended", [INSTANCE_STOPPING] = "stopping", [INSTANCE_STOPPED] = "stopped",
        [INSTANCE_FAILED] = "failed",
};

static const char *const reason_table[_INSTANCE_REASON_MAX] = {
        [REASON_REQUESTED] = "requested",
        [REASON_EXITED] = "exited",
        [REASON_CRASHED] = "crashed",
        [REASON_KILLED] = "killed",
        [REASON_GUEST_RESET] = "guest-reset",
        [REASON_GUEST_PANIC] = "guest-panic",
        [REASON_BOOT_TIMEOUT] = "boot-timeout",
        [REASON_SPAWN_FAILED] = "spawn-failed",
        [REASON_DAEMON_LOST] = "daemon-lost",
        [REASON_RESTART_LIMIT] = "restart-limit",
        [REASON_RESTARTING] = "restarting",
        [REASON_WATCHDOG] = "watchdog",
        [REASON_LEAKED_PROCESSES] = "leaked-processes",
};

const BackendOps *backend_ops(Backend b) {
        switch (b) {
        case BACKEND_QEMU:
                return &backend_qemu_ops;
        case BACKEND_CROSVM:
                return &backend_crosvm_ops;
        case BACKEND_CVD:
                return &backend_cvd_ops;
        case _BACKEND_MAX:
        case _BACKEND_INVALID:
                break;
        }
        return NULL;
}

const char *instance_state_to_string(InstanceState s) {
        if (s < 0 || s >= _INSTANCE_STATE_MAX)
                return NULL;
        return state_table[s];
}

InstanceState instance_state_from_string(const char *s) {
        for (InstanceState i = 0; i < _INSTANCE_STATE_MAX; i++)
                if (streq_ptr(s, state_table[i]))
                        return i;
        return _INSTANCE_STATE_INVALID;
}

const char *instance_reason_to_string(InstanceReason r) {
        if (r < 0 || r >= _INSTANCE_REASON_MAX)
                return NULL;
        return reason_table[r];
}

InstanceReason instance_reason_from_string(const char *s) {
        for (InstanceReason i = 0; i < _INSTANCE_REASON_MAX; i++)
                if (streq_ptr(s, reason_table[i]))
                        return i;
        return _INSTANCE_REASON_INVALID;
}

void instance_log(Instance *i, int level, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_full(level, "Instance %u (uid %u): %s", i->number, (unsigned) i->owner, buf);
}

static void instance_changed(Instance *i) {
        manager_instance_changed(i->manager, i);
}

/* CreateInstance() and Start() answer once the VMM has exec'd (or failed to). error NULL:
 * success. A failed CreateInstance() keeps nothing: the instance is removed (and freed). */
static void instance_reply_pending(Instance *i, const char *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(i->pending_reply);
        bool create = i->pending_create;

        i->pending_create = false;
        if (!m)
                return;
        if (!error) {
                if (create)
                        (void) sd_bus_reply_method_return(m, "uo", i->number, i->object_path);
                else
                        (void) sd_bus_reply_method_return(m, NULL);
                return;
        }
        if (create) {
                (void) sd_bus_reply_method_errorf(
                                m,
                                BUS_ERROR_SPAWN_FAILED,
                                "The VMM did not start: %s. Nothing was kept; fix it and create "
                                "the instance again.",
                                error);
                manager_remove_instance(i->manager, i);
        } else
                (void) sd_bus_reply_method_errorf(
                                m,
                                BUS_ERROR_SPAWN_FAILED,
                                "Instance %u did not start: %s.",
                                i->number,
                                error);
}

void instance_set_status(Instance *i, const char *text) {
        free(i->status_text);
        /* It is sent over D-Bus: a path cut mid-character would make the bus drop us. */
        i->status_text = text ? escape_nonprintable(strdup(text)) : NULL;
}

/* Signals go through the pidfd: an adopted VMM is not our child, and its pid could be reused. */
int instance_signal(Instance *i, int sig) {
        if (i->pidfd >= 0) {
                if (syscall(SYS_pidfd_send_signal, i->pidfd, sig, NULL, 0) < 0)
                        return -errno;
                return 0;
        }
        if (kill(i->pid, sig) < 0)
                return -errno;
        return 0;
}

void instance_set_state(Instance *i, InstanceState s, InstanceReason r) {
        if (i->state == s && i->reason == r)
                return;
        instance_log(i,
                     s == INSTANCE_FAILED ? LOG_WARNING : LOG_INFO,
                     "%s (%s)",
                     instance_state_to_string(s),
                     instance_reason_to_string(r));
        i->state = s;
        i->reason = r;
        instance_changed(i);
}

void instance_set_booted(Instance *i, bool b) {
        if (i->booted == b)
                return;
        i->booted = b;
        if (b) {
                instance_log(i, LOG_INFO, "booted");
                i->boot_timeout_source = sd_event_source_disable_unref(i->boot_timeout_source);
                /* A guest that booted runs, whether or not its control socket was seen yet. */
                if (i->state == INSTANCE_STARTING)
                        instance_set_state(i, INSTANCE_RUNNING, REASON_REQUESTED);
        }
        instance_changed(i);
}

bool instance_is_active(const Instance *i) {
        return i->pid > 0;
}

bool instance_is_removing(const Instance *i) {
        return i->remove_reply || i->remove_source;
}

bool instance_is_reaping(const Instance *i) {
        return i->reap;
}

int instance_leaf_name(unsigned number, char *buf, size_t size) {
        int n = snprintf(buf, size, "instance-%u", number);

        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

/* Console: the VMM writes the serial console to a file; we follow it for the boot marker.
 * The file sits in a directory its owner controls: open it without blocking (a FIFO would hang
 * us), and only if it is a regular file with one link, owned by the owner or root. */
static int console_open(Instance *i, int mode) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(i->console_log, mode | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_uid != i->owner && st.st_uid != 0))
                return -EPERM;
        if (mode != O_RDONLY && fcntl(fd, F_SETFL, O_APPEND) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void console_scan(Instance *i) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t mlen;

        size_t scanned = 0;

        if (!i->spec.boot_marker || i->booted)
                return;
        fd = console_open(i, O_RDONLY);
        if (fd < 0)
                return;
        mlen = strlen(i->spec.boot_marker);
        buf = malloc(sizeof(i->marker_tail) + CONSOLE_READ_MAX);
        if (!buf || mlen == 0 || mlen > sizeof(i->marker_tail))
                return;

        for (;;) {
                size_t have = i->marker_tail_len, keep;
                ssize_t n;

                /* The bytes kept from the last read, so a marker split across reads is found. */
                memcpy(buf, i->marker_tail, have);
                /* Bounded per call: a huge (or sparse) file must not stall the event loop. */
                if (scanned >= CONSOLE_SCAN_MAX)
                        return;
                n = pread(fd, buf + have, CONSOLE_READ_MAX, (off_t) i->console_offset);
                if (n <= 0)
                        return;
                scanned += (size_t) n;
                i->console_offset += (uint64_t) n;
                have += (size_t) n;
                /* The console holds escapes and maybe NULs: search bytes, not a C string. */
                if (memmem(buf, have, i->spec.boot_marker, mlen)) {
                        instance_set_booted(i, true);
                        return;
                }
                keep = MIN(mlen - 1, have);
                memcpy(i->marker_tail, buf + have - keep, keep);
                i->marker_tail_len = keep;
        }
}

static int on_console(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        console_scan(userdata);
        return 0;
}

static int on_boot_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        i->boot_timeout_source = sd_event_source_disable_unref(i->boot_timeout_source);
        console_scan(i);
        if (i->booted || !instance_is_active(i))
                return 0;
        instance_log(i,
                     LOG_WARNING,
                     "no boot marker \"%s\" on the console within %u s; killing the VMM",
                     i->spec.boot_marker,
                     i->spec.boot_timeout_sec);
        instance_set_status(i, "boot timeout");
        i->reason = REASON_BOOT_TIMEOUT;
        (void) instance_signal(i, SIGKILL);
        return 0;
}

/* Control channel: the backend says when it is up, and when the guest reset. */

void instance_control_ready(Instance *i) {
        if (i->state == INSTANCE_STARTING)
                instance_set_state(i, INSTANCE_RUNNING, REASON_REQUESTED);
        if (!i->spec.boot_marker)
                instance_set_booted(i, true);
}

void instance_guest_reset(Instance *i) {
        struct stat st;

        if (!i->spec.boot_marker)
                return;
        /* The next boot's marker is what counts now. */
        if (stat(i->console_log, &st) >= 0)
                i->console_offset = i->console_start = (uint64_t) st.st_size;
        i->marker_tail_len = 0;
        instance_set_booted(i, false);
}

static void instance_disconnect(Instance *i) {
        if (i->ops && i->ops->disconnect)
                i->ops->disconnect(i);
        i->control_retry_source = sd_event_source_disable_unref(i->control_retry_source);
}

static int on_control_socket_retry(sd_event_source *s, uint64_t usec, void *userdata);

/* The socket lives in the owner's directory: lstat only, never follow, never open it as root. */
int instance_wait_control_socket(Instance *i, uint64_t interval_usec, unsigned attempts) {
        struct stat st;

        i->control_retry_source = sd_event_source_disable_unref(i->control_retry_source);
        if (!instance_is_active(i))
                return 0;
        if (lstat(i->control_path, &st) >= 0 && S_ISSOCK(st.st_mode)) {
                instance_control_ready(i);
                return 0;
        }
        if (++i->control_attempts > attempts) {
                instance_log(i, LOG_WARNING, "control socket %s never appeared", i->control_path);
                return -ETIMEDOUT;
        }
        return sd_event_add_time_relative(
                        i->manager->event,
                        &i->control_retry_source,
                        CLOCK_MONOTONIC,
                        interval_usec,
                        0,
                        on_control_socket_retry,
                        i);
}

static int on_control_socket_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        i->control_retry_source = sd_event_source_disable_unref(i->control_retry_source);
        if (i->ops && i->ops->connect)
                (void) i->ops->connect(i);
        return 0;
}

#define CONTROL_TIMEOUT_USEC (10 * USEC_PER_SEC)

static void control_reset(Instance *i) {
        i->control_source = sd_event_source_disable_unref(i->control_source);
        i->control_timeout_source = sd_event_source_disable_unref(i->control_timeout_source);
        i->control_pidfd = safe_close(i->control_pidfd);
        i->control_pid = 0;
}

static int on_control_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Instance *i = userdata;
        siginfo_t si = {};
        int status = INT32_MIN, action = i->control_action;

        if (waitid(P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) >= 0 && si.si_pid > 0)
                status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
        else if (si.si_pid == 0)
                return 0; /* spurious wake-up */
        control_reset(i);
        if (i->ops && i->ops->control_done)
                i->ops->control_done(i, action, status);
        return 0;
}

static int on_control_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        instance_log(i, LOG_WARNING, "control command did not finish within 10 s; killing it");
        i->control_timeout_source = sd_event_source_disable_unref(i->control_timeout_source);
        if (i->control_pidfd >= 0)
                (void) syscall(SYS_pidfd_send_signal, i->control_pidfd, SIGKILL, NULL, 0);
        return 0;
}

static _noreturn_ void control_child(
                Instance *i, int action, char **argv, int (*func)(Instance *i, int action)) {
        static char *const env[] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
        sigset_t none;
        int null;

        /* The daemon's blocked signals and its fds are not the command's business. */
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                (void) signal(sig, SIG_DFL);
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                _exit(125);
        if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
                for (int fd = 3; fd < 4096; fd++)
                        (void) close(fd);
        (void) setsid();

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
        pid_t pid;
        int r;

        if (i->control_pid > 0)
                return -EBUSY;
        if (!argv && !func)
                return -EINVAL;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                control_child(i, action, argv, func);

        i->control_pid = pid;
        i->control_action = action;
        i->control_pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (i->control_pidfd < 0) {
                r = -errno;
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                i->control_pid = 0;
                return r;
        }
        r =
                        sd_event_add_io(i->manager->event,
                                        &i->control_source,
                                        i->control_pidfd,
                                        EPOLLIN,
                                        on_control_exit,
                                        i);
        if (r >= 0)
                r = sd_event_add_time_relative(
                                i->manager->event,
                                &i->control_timeout_source,
                                CLOCK_MONOTONIC,
                                CONTROL_TIMEOUT_USEC,
                                0,
                                on_control_timeout,
                                i);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                control_reset(i);
                return r;
        }
        return 0;
}

static void control_abort(Instance *i) {
        if (i->control_pid <= 0)
                return;
        (void) kill(i->control_pid, SIGKILL);
        (void) waitpid(i->control_pid, NULL, 0);
        control_reset(i);
}

/* Exit and restart policy */

/* Back to the pool. A tap's owner cannot be unset, so the taps are deleted and the network
 * reconcile creates them again as the pool's (group cvdnetwork, no owner), usable by a launch_cvd
 * run by hand as before the instance took the slot. */
static void instance_release_taps(Instance *i) {
        gid_t group = i->manager->network->tap_group;
        char *names[INSTANCE_NICS];
        size_t n_names = 0;
        int r;

        for (size_t n = 0; n < INSTANCE_NICS; n++)
                if (i->taps[n][0] && if_nametoindex(i->taps[n]) > 0)
                        names[n_names++] = i->taps[n];
        if (n_names == 0)
                return;
        r = network_recycle_taps(i->manager->network, names, n_names);
        if (r >= 0)
                return;
        /* No netlink: at least make them the group's again (root stays their owner). */
        instance_log(i, LOG_DEBUG, "cannot recycle the taps (%s); resetting their owner", strerror(-r));
        for (size_t n = 0; n < n_names; n++) {
                r = tap_reset_owner(names[n], group);
                if (r < 0 && r != -ENODEV)
                        instance_log(i,
                                     LOG_DEBUG,
                                     "could not reset owner of %s: %s",
                                     names[n],
                                     strerror(-r));
        }
}

static void instance_process_gone(Instance *i);
static void instance_remove_finish_later(Instance *i);

/* Everything the VMM started (launch_cvd's run_cvd and helpers, crosvm's jails, whatever a
 * guest-facing helper forked and detached) dies with it: the whole leaf, on every layout. */
static void instance_kill_cgroup(Instance *i) {
        char leaf[32];

        if (i->scope) {
                /* Its scope holds the whole tree (launch_cvd's run_cvd, crosvm's jails). */
                (void) sd_bus_call_method_async(
                                i->manager->bus,
                                NULL,
                                "org.freedesktop.systemd1",
                                "/org/freedesktop/systemd1",
                                "org.freedesktop.systemd1.Manager",
                                "KillUnit",
                                NULL,
                                NULL,
                                "ssi",
                                i->scope,
                                "all",
                                SIGKILL);
                return;
        }
        if (instance_leaf_name(i->number, leaf, sizeof(leaf)) >= 0)
                (void) cgroup_leaf_kill(&i->manager->cgroups, leaf);
}

/* The VMM's cgroup is gone with it: systemd collects a scope; ours the reap removed. */
static void instance_cgroup_done(Instance *i) {
        i->scope = mfree(i->scope);
}

static int on_restart(sd_event_source *s, uint64_t usec, void *userdata) {
        _cleanup_free_ char *e = NULL;
        Instance *i = userdata;

        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        i->restart_count++;
        if (instance_start(i, &e) < 0)
                instance_log(i, LOG_ERR, "restart failed: %s", strempty(e));
        return 0;
}

static bool restart_rate_exceeded(Instance *i) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        unsigned recent = 0;

        for (size_t n = 0; n < INSTANCE_RESTART_BURST; n++)
                if (i->restart_times[n] > 0 && now - i->restart_times[n] < INSTANCE_RESTART_INTERVAL_USEC)
                        recent++;
        if (recent >= INSTANCE_RESTART_BURST)
                return true;
        memmove(i->restart_times + 1,
                i->restart_times,
                sizeof(i->restart_times[0]) * (INSTANCE_RESTART_BURST - 1));
        i->restart_times[0] = now;
        return false;
}

static void instance_maybe_restart(Instance *i) {
        uint64_t delay;
        int r;

        if (i->stop_requested || i->kill_requested)
                return;
        if (i->spec.restart == RESTART_NO)
                return;
        /* A guest that asked for a reset (crosvm exit 32) is started again like a failure is,
         * as Cuttlefish's process_restarter does. */
        if (i->spec.restart == RESTART_ON_FAILURE && i->state != INSTANCE_FAILED &&
            i->reason != REASON_GUEST_RESET)
                return;
        if (restart_rate_exceeded(i)) {
                instance_log(i,
                             LOG_WARNING,
                             "restarted %u times within %llu s; giving up",
                             INSTANCE_RESTART_BURST,
                             (unsigned long long) (INSTANCE_RESTART_INTERVAL_USEC / USEC_PER_SEC));
                instance_set_state(i, INSTANCE_FAILED, REASON_RESTART_LIMIT);
                return;
        }
        /* Back-off: 500 ms, doubling with each earlier restart still inside the window, at most
         * 10 s; restarts older than the window no longer count. */
        delay = 500 * USEC_PER_MSEC;
        for (size_t n = 1; n < INSTANCE_RESTART_BURST; n++)
                if (i->restart_times[n] > 0 &&
                    now_usec(CLOCK_MONOTONIC) - i->restart_times[n] < INSTANCE_RESTART_INTERVAL_USEC)
                        delay = MIN(delay * 2, 10 * USEC_PER_SEC);
        r = sd_event_add_time_relative(
                        i->manager->event, &i->restart_source, CLOCK_MONOTONIC, delay, 0, on_restart, i);
        if (r < 0) {
                instance_log(i, LOG_ERR, "cannot schedule restart: %s", strerror(-r));
                return;
        }
        instance_log(i,
                     LOG_INFO,
                     "restarting in %llu ms (policy %s)",
                     (unsigned long long) (delay / USEC_PER_MSEC),
                     restart_policy_to_string(i->spec.restart));
}

static void instance_exit_finish(Instance *i);

/* The tree could not be emptied: the slot is not given back (the instance keeps it) until a
 * later Remove() finds the leaf empty. */
static void instance_enter_leaked(Instance *i, const char *what) {
        _cleanup_free_ char *text = NULL;

        (void) asprintf(&text,
                        "processes of the VMM did not end within %u s of SIGKILL: %s; the slot stays reserved "
                        "until they are gone (remove the instance again)",
                        (unsigned) (REAP_TIMEOUT_USEC / USEC_PER_SEC),
                        strempty(what));
        instance_log(i, LOG_ERR, "%s", strempty(text));
        instance_set_status(i, text);
        instance_set_state(i, INSTANCE_FAILED, REASON_LEAKED_PROCESSES);
        i->restart_requested = false;
        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        i->remove_timeout_source = sd_event_source_disable_unref(i->remove_timeout_source);
        if (i->remove_reply) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(i->remove_reply);

                (void) sd_bus_reply_method_errorf(
                                m,
                                BUS_ERROR_LEAKED_PROCESSES,
                                "Instance %u was not removed: %s.",
                                i->number,
                                strempty(text));
        }
}

static void on_tree_reaped(Reap *r, int result, const char *leftovers, void *userdata) {
        Instance *i = userdata;
        bool for_remove = i->reap_for_remove;

        i->reap = reap_free(i->reap);
        i->reap_for_remove = false;
        if (result == -ETIMEDOUT) {
                instance_enter_leaked(i, leftovers);
                return;
        }
        if (result < 0)
                instance_log(i, LOG_WARNING, "cannot read its cgroup: %s", strerror(-result));
        if (for_remove)
                instance_remove_finish_later(i);
        else
                instance_exit_finish(i);
}

/* Ends what is left in the slot's leaf; 0: nothing was (done now), 1: on_tree_reaped() follows. */
static int instance_reap_tree(Instance *i, bool for_remove) {
        char leaf[32];
        int r;

        if (i->scope || instance_leaf_name(i->number, leaf, sizeof(leaf)) < 0)
                return 0;
        r = reap_start(i->manager->event,
                       &i->manager->cgroups,
                       leaf,
                       REAP_TIMEOUT_USEC,
                       on_tree_reaped,
                       i,
                       &i->reap);
        if (r < 0)
                instance_log(i,
                             LOG_WARNING,
                             "cannot end the processes left in its cgroup: %s",
                             strerror(-r));
        if (r <= 0)
                return 0;
        i->reap_for_remove = for_remove;
        instance_log(i, LOG_INFO, "ending the processes the VMM left in its cgroup");
        return 1;
}

static void instance_process_gone(Instance *i) {
        i->pidfd_source = sd_event_source_disable_unref(i->pidfd_source);
        i->pidfd = safe_close(i->pidfd);
        i->boot_timeout_source = sd_event_source_disable_unref(i->boot_timeout_source);
        i->stop_timeout_source = sd_event_source_disable_unref(i->stop_timeout_source);
        i->console_source = sd_event_source_disable_unref(i->console_source);
        instance_disconnect(i);
        instance_kill_cgroup(i);
        i->pid = 0;
        i->pid_starttime = 0;
        i->booted = false;
        instance_cgroup_done(i);
        /* The taps stay the owner's while the instance holds the slot (stopped, failed, waiting
         * for a restart); Remove() gives them back to the pool. */

        /* Not stopped until the whole tree is gone. */
        if (instance_reap_tree(i, false) > 0)
                return;
        instance_exit_finish(i);
}

static void instance_exit_finish(Instance *i) {
        InstanceState s;
        InstanceReason r;
        int status = i->exit_status;

        if (i->reason == REASON_BOOT_TIMEOUT) {
                s = INSTANCE_FAILED;
                r = REASON_BOOT_TIMEOUT;
        } else if (i->stop_requested) {
                s = INSTANCE_STOPPED;
                r = REASON_REQUESTED;
        } else if (i->kill_requested) {
                s = INSTANCE_STOPPED;
                r = REASON_KILLED;
        } else if (i->ops && i->ops->exit_outcome && i->ops->exit_outcome(i, status, &s, &r)) {
                /* The backend's exit codes said what happened. */
        } else if (i->reason == REASON_GUEST_PANIC) {
                s = INSTANCE_FAILED;
                r = REASON_GUEST_PANIC;
        } else if (i->guest_shutdown || status == 0) {
                s = INSTANCE_STOPPED;
                r = REASON_EXITED;
        } else {
                s = INSTANCE_FAILED;
                r = REASON_CRASHED;
        }
        if (status < 0 && status != INT32_MIN)
                instance_log(i,
                             s == INSTANCE_FAILED ? LOG_WARNING : LOG_INFO,
                             "VMM killed by signal %s",
                             sigabbrev_np(-status) ?: "?");
        else if (status != INT32_MIN)
                instance_log(i,
                             s == INSTANCE_FAILED ? LOG_WARNING : LOG_INFO,
                             "VMM exited with status %i",
                             status);
        if (i->restart_requested) {
                _cleanup_free_ char *e = NULL;

                i->restart_requested = false;
                if (instance_start(i, &e) < 0)
                        instance_log(i, LOG_ERR, "restart failed: %s", strempty(e));
                return;
        }
        instance_set_state(i, s, r);
        if (i->remove_reply) {
                instance_remove_finish_later(i);
                return;
        }
        instance_maybe_restart(i);
}

static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Instance *i = userdata;
        siginfo_t si = {};

        /* Our child: reap it and learn how it ended. Adopted after a daemon restart: not our
         * child, so only that it ended (QMP may have told us more). */
        if (waitid(P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) >= 0 && si.si_pid > 0)
                i->exit_status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
        else
                i->exit_status = INT32_MIN;
        instance_process_gone(i);
        return 0;
}

static int instance_watch(Instance *i) {
        int r;

        i->pidfd = (int) syscall(SYS_pidfd_open, i->pid, 0);
        if (i->pidfd < 0)
                return -errno;
        r = sd_event_add_io(i->manager->event, &i->pidfd_source, i->pidfd, EPOLLIN, on_pidfd, i);
        if (r < 0)
                return r;

        if (i->spec.boot_marker) {
                r = sd_event_add_inotify(
                                i->manager->event,
                                &i->console_source,
                                i->console_log,
                                IN_MODIFY | IN_CLOSE_WRITE,
                                on_console,
                                i);
                if (r < 0)
                        instance_log(i, LOG_WARNING, "cannot follow the console: %s", strerror(-r));
                /* What the VMM wrote before the watch existed (right after exec) counts too. */
                console_scan(i);
                if (i->spec.boot_timeout_sec > 0 && !i->booted) {
                        r = sd_event_add_time_relative(
                                        i->manager->event,
                                        &i->boot_timeout_source,
                                        CLOCK_MONOTONIC,
                                        (uint64_t) i->spec.boot_timeout_sec * USEC_PER_SEC,
                                        0,
                                        on_boot_timeout,
                                        i);
                        if (r < 0)
                                return r;
                }
        }
        i->control_attempts = 0;
        if (i->ops && i->ops->connect)
                (void) i->ops->connect(i);
        return 0;
}

/* Spawning */

static int instance_prepare_dirs(Instance *i) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        _cleanup_free_ char *parent = path_join(i->manager->runtime_dir, "instances");

        /* instances/ lets owners through to their own directory; each of those is private. */
        if (!parent)
                return -ENOMEM;
        r = mkdir_p(parent, 0755);
        if (r < 0)
                return r;
        /* A new instance gets a new directory: whatever is at its path (a directory an earlier
         * instance could not have deleted, still open in some process of its owner) is moved
         * away first, never handed over. Restarts keep theirs (console.log spans runs). */
        if (!i->dir_fresh) {
                if (mkdir(i->runtime_dir, 0700) < 0) {
                        if (errno != EEXIST)
                                return -errno;
                        instance_log(i, LOG_NOTICE, "%s exists already; moving it away", i->runtime_dir);
                        manager_trash_dir(i->manager, i->runtime_dir);
                        if (mkdir(i->runtime_dir, 0700) < 0)
                                return -errno;
                }
                i->dir_fresh = true;
        } else if (mkdir(i->runtime_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        /* The owner's VMM writes here (console, QMP socket); nobody else may read it. */
        if (chown(i->runtime_dir, i->owner, i->owner_gid) < 0 || chmod(i->runtime_dir, 0700) < 0)
                return -errno;
        (void) unlink(i->control_path);
        fd = open(i->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        /* Only chown what is ours: a regular file with one link (not a hard link to elsewhere). */
        {
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
                        return -EPERM;
        }
        if (fchown(fd, i->owner, i->owner_gid) < 0)
                return -errno;
        return 0;
}

typedef struct SpawnError {
        int error;
        char step[64];
        char detail[256];
} SpawnError;

static _noreturn_ void child_fail(int errfd, int error, const char *step, const char *detail) {
        SpawnError e = { .error = error };

        (void) snprintf(e.step, sizeof(e.step), "%s", step);
        (void) snprintf(e.detail, sizeof(e.detail), "%s", strempty(detail));
        (void) !write(errfd, &e, sizeof(e));
        _exit(EXIT_FAILURE);
}

#define SPAWN_TIMEOUT_USEC (10 * USEC_PER_SEC)

static void instance_start_failed(Instance *i, const char *e);

/* The outcome of a spawn: se is the child's failure record, or NULL; failure is the parent's own
 * reason (timeout), or NULL. Both NULL: the VMM exec'd. May free i (a failed CreateInstance). */
static void spawn_done(Instance *i, const SpawnError *se, const char *failure) {
        _cleanup_free_ char *e = NULL;
        pid_t pid = i->spawn_pid;
        int r;

        i->spawn_source = sd_event_source_disable_unref(i->spawn_source);
        i->spawn_timeout_source = sd_event_source_disable_unref(i->spawn_timeout_source);
        i->spawn_fd = safe_close(i->spawn_fd);
        i->spawn_go_fd = safe_close(i->spawn_go_fd);
        i->scope_slot = sd_bus_slot_unref(i->scope_slot);
        i->scope_check_source = sd_event_source_disable_unref(i->scope_check_source);
        i->spawn_pid = 0;

        if (se || failure) {
                /* The child exits right after reporting (or was SIGKILLed): reaping is quick. */
                (void) waitpid(pid, NULL, 0);
                if (se && se->detail[0])
                        (void) asprintf(&e, "%s %s: %s", se->step, se->detail, strerror(se->error));
                else if (se)
                        (void) asprintf(&e, "sandbox step %s: %s", se->step, strerror(se->error));
                else
                        e = strdup(failure);
                instance_cgroup_done(i);
                if (e)
                        e = escape_nonprintable(TAKE_PTR(e));
                instance_start_failed(i, e);
                return;
        }

        i->pid = pid;
        (void) pid_get_starttime(pid, &i->pid_starttime);
        /* What the kernel says runs, for re-adoption: no path of the caller's is resolved later. */
        {
                char link[64], target[PATH_MAX];
                ssize_t k;

                (void) snprintf(link, sizeof(link), "/proc/%i/exe", (int) pid);
                k = readlink(link, target, sizeof(target) - 1);
                if (k > 0) {
                        target[k] = 0;
                        free(i->exe);
                        i->exe = strdup(target);
                }
        }
        i->started_realtime = now_usec(CLOCK_REALTIME);
        i->exit_status = 0;
        /* console.log is appended to across runs: only this run's output counts for the marker. */
        i->console_offset = i->console_start;
        i->marker_tail_len = 0;
        instance_log(i,
                     LOG_INFO,
                     "VMM started (pid %i, %s%s%s)",
                     (int) pid,
                     strempty(i->exe),
                     i->spawn_note ? ", " : "",
                     strempty(i->spawn_note));
        r = instance_watch(i);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                i->pid = 0;
                instance_start_failed(i, "cannot watch the VMM");
                return;
        }
        instance_changed(i);
        instance_reply_pending(i, NULL);
}

static int on_spawn_result(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Instance *i = userdata;
        SpawnError se = {};
        ssize_t n;

        n = read(fd, &se, sizeof(se));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n == (ssize_t) sizeof(se)) {
                se.step[sizeof(se.step) - 1] = se.detail[sizeof(se.detail) - 1] = 0;
                spawn_done(i, &se, NULL);
        } else if (n == 0)
                spawn_done(i, NULL, NULL);
        else
                spawn_done(i, NULL, "the starting VMM reported garbage");
        return 0;
}

static int on_spawn_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        (void) kill(i->spawn_pid, SIGKILL);
        spawn_done(i,
                   NULL,
                   "the sandboxed child did not reach exec within 10 s (is a kernel, initrd or disk path on a "
                   "stalled mount?)");
        return 0;
}

void spawn_plan_done(SpawnPlan *p) {
        free(p->exe);
        strv_free(p->argv);
        strv_free(p->env);
        for (size_t k = 0; k < p->n_fds; k++)
                safe_close(p->fds[k]);
        *p = (SpawnPlan){};
}

/* Attaches to the slot's taps and gives them to the owner: while the instance holds the slot they
 * are the owner's alone (group root, so other cvdnetwork members cannot attach). ret_fds NULL:
 * only change the owner, hold nothing (a VMM that opens them by name). */
int instance_open_taps(Instance *i, int *ret_fds, char **ret_error) {
        int fds[INSTANCE_NICS] = { -EBADF, -EBADF, -EBADF };
        int r = 0;

        for (size_t k = 0; k < INSTANCE_NICS && r >= 0; k++) {
                r = tap_open(i->taps[k], &fds[k]);
                if (r < 0) {
                        (void) asprintf(ret_error,
                                        "%s: %s",
                                        i->taps[k],
                                        r == -EBUSY ? "held by another process (a VMM or launch_cvd started by hand?)"
                                                        : r == -ENODEV ? "missing; run 'cfctl network up'"
                                                                       : strerror(-r));
                        break;
                }
                /* The kernel lets a process attach only if it is the owner AND in the group: with
                 * fds handed over, group root shuts everyone else out; a VMM attaching by name
                 * (launch_cvd) needs a group its owner is in, their own. */
                r = tap_set_owner(fds[k], i->owner, ret_fds ? 0 : i->owner_gid);
                if (r < 0)
                        (void) asprintf(ret_error, "%s: cannot set owner: %s", i->taps[k], strerror(-r));
        }
        for (size_t k = 0; k < INSTANCE_NICS; k++)
                if (r < 0 || !ret_fds)
                        safe_close(fds[k]);
                else
                        ret_fds[k] = fds[k];
        return r;
}

/* Scope mode: the child waits for one byte before its sandbox. 'S': systemd has put it in its
 * transient scope; 'C': no scope (systemd refused, or is not on this bus): it joins our cgroupfs
 * subtree itself. EOF: the spawn was abandoned. */
#define SCOPE_CHECK_USEC (5 * USEC_PER_MSEC)
#define SCOPE_CHECKS_MAX 200

static void spawn_go(Instance *i, char how) {
        if (i->spawn_go_fd < 0)
                return;
        if (how != 'S')
                i->scope = mfree(i->scope);
        (void) !write(i->spawn_go_fd, &how, 1);
        i->spawn_go_fd = safe_close(i->spawn_go_fd);
}

static bool pid_in_scope(pid_t pid, const char *scope) {
        _cleanup_free_ char *path = NULL, *text = NULL;

        if (asprintf(&path, "/proc/%i/cgroup", (int) pid) < 0 || read_full_file(path, &text, NULL) < 0)
                return false;
        return strstr(text, scope) != NULL;
}

/* StartTransientUnit returns when the job is queued; the move follows. */
static int on_scope_check(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        i->scope_check_source = sd_event_source_disable_unref(i->scope_check_source);
        if (pid_in_scope(i->spawn_pid, i->scope)) {
                spawn_go(i, 'S');
                return 0;
        }
        if (++i->scope_checks >= SCOPE_CHECKS_MAX) {
                instance_log(i,
                             LOG_WARNING,
                             "systemd did not move the VMM into %s within 1 s; using the cgroupfs "
                             "subtree",
                             i->scope);
                spawn_go(i, 'C');
                return 0;
        }
        if (sd_event_add_time_relative(
                            i->manager->event,
                            &i->scope_check_source,
                            CLOCK_MONOTONIC,
                            SCOPE_CHECK_USEC,
                            0,
                            on_scope_check,
                            i) < 0)
                spawn_go(i, 'C');
        return 0;
}

static int on_scope_started(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Instance *i = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        i->scope_slot = sd_bus_slot_unref(i->scope_slot);
        if (e) {
                instance_log(i,
                             LOG_NOTICE,
                             "systemd did not create the scope %s (%s); using the cgroupfs subtree",
                             i->scope,
                             e->message ?: e->name);
                spawn_go(i, 'C');
                return 0;
        }
        i->scope_checks = 0;
        return on_scope_check(NULL, 0, i);
}

static int scope_start(Instance *i, pid_t pid, uint64_t memory_max, uint64_t tasks_max) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *description = NULL;
        int r;

        free(i->scope);
        if (asprintf(&i->scope, "cuttlefish-instance-%u-%i.scope", i->number, (int) pid) < 0 ||
            asprintf(&description, "Cuttlefish instance %u of uid %u", i->number, (unsigned) i->owner) < 0)
                return -ENOMEM;
        r = sd_bus_message_new_method_call(
                        i->manager->bus,
                        &m,
                        "org.freedesktop.systemd1",
                        "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager",
                        "StartTransientUnit");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", i->scope, "fail");
        if (r < 0)
                return r;
        r = sd_bus_message_append(
                        m,
                        "a(sv)",
                        6,
                        "Description",
                        "s",
                        description,
                        "PIDs",
                        "au",
                        1,
                        (uint32_t) pid,
                        "Slice",
                        "s",
                        "machine.slice",
                        "MemoryMax",
                        "t",
                        memory_max,
                        "TasksMax",
                        "t",
                        tasks_max,
                        "CollectMode",
                        "s",
                        "inactive-or-failed");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return r;
        return sd_bus_call_async(i->manager->bus, &i->scope_slot, m, on_scope_started, i, 5 * USEC_PER_SEC);
}

static int instance_spawn(Instance *i, char **ret_error) {
        _cleanup_(spawn_plan_done) SpawnPlan plan = {};
        _cleanup_(strv_freep) char **cgroup_procs = NULL;
        _cleanup_close_ int console = -EBADF;
        char leaf[32];
        int errpipe[2] = { -EBADF, -EBADF }, gopipe[2] = { -EBADF, -EBADF };
        pid_t pid;
        int r;

        if (!i->ops) {
                (void) asprintf(ret_error,
                                "backend %s is not available yet; use qemu",
                                backend_to_string(i->spec.backend));
                return -EOPNOTSUPP;
        }

        r = instance_prepare_dirs(i);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot prepare %s: %s", i->runtime_dir, strerror(-r));
                return r;
        }

        r = i->ops->plan(i, &plan, ret_error);
        if (r < 0)
                return r;
        assert(plan.argv && plan.argv[0] && plan.n_fds < SPAWN_FDS_MAX);

        console = console_open(i, O_WRONLY);
        if (console < 0) {
                (void) asprintf(ret_error, "cannot open %s: %s", i->console_log, strerror(-console));
                return console;
        }
        {
                struct stat st;
                i->console_start = fstat(console, &st) >= 0 ? (uint64_t) st.st_size : 0;
        }
        /* A fresh leaf, made here by root; the child only joins it. One that still holds a task
         * is never reused (the slot's allocation checks that before anyone gets it). */
        r = instance_leaf_name(i->number, leaf, sizeof(leaf));
        /* Where systemd runs the host it owns the cgroup tree: the VMM goes into a transient scope
         * (scope_start()), and a scope that cannot be had leaves it in the daemon's cgroup. */
        if (r >= 0 && !(i->manager->use_scopes && i->manager->bus))
                r = cgroup_leaf_create(
                                &i->manager->cgroups,
                                leaf,
                                ((uint64_t) i->spec.memory_mb + plan.memory_overhead_mb) * 1024 * 1024,
                                plan.tasks_max,
                                &cgroup_procs);
        if (r < 0) {
                (void) asprintf(ret_error,
                                "cannot make cgroup %s: %s",
                                leaf,
                                r == -EBUSY ? "processes of an earlier instance are still in it"
                                            : strerror(-r));
                return r;
        }
        if (pipe2(errpipe, O_CLOEXEC) < 0)
                return -errno;
        if (i->manager->use_scopes && i->manager->bus && pipe2(gopipe, O_CLOEXEC) < 0) {
                r = -errno;
                safe_close(errpipe[0]);
                safe_close(errpipe[1]);
                return r;
        }

        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void) asprintf(ret_error, "fork: %s", strerror(-r));
                safe_close(errpipe[0]);
                safe_close(errpipe[1]);
                safe_close(gopipe[0]);
                safe_close(gopipe[1]);
                return r;
        }
        if (pid == 0) {
                int keep[SPAWN_FDS_MAX + 1];
                bool in_scope = false;
                size_t n_keep = plan.n_fds + 1;
                int errfd = 3 + (int) plan.n_fds; /* where the error pipe ends up */
                const char *step = NULL;
                SandboxSpec sb;

                /* The error pipe rides along as the last kept fd, still close-on-exec. */
                for (size_t k = 0; k < plan.n_fds; k++)
                        keep[k] = plan.fds[k];
                keep[plan.n_fds] = errpipe[1];
                if (gopipe[0] >= 0) {
                        char how = 0;

                        safe_close(gopipe[1]);
                        if (read(gopipe[0], &how, 1) != 1)
                                child_fail(errpipe[1], EPIPE, "scope", NULL);
                        in_scope = how == 'S';
                        safe_close(gopipe[0]);
                }
                sb = (SandboxSpec){
                        .uid = i->owner,
                        .gid = i->owner_gid,
                        .groups = i->groups,
                        .n_groups = i->n_groups,
                        .runtime_dir = i->runtime_dir,
                        .cgroup_procs = in_scope ? NULL : (const char *const *) cgroup_procs,
                        .keep_fds = keep,
                        .n_keep_fds = n_keep,
                        .stdout_fd = console,
                        .new_netns = plan.new_netns,
                        /* Disks stay writable inside the read-only system; the uid's own
                         * permissions still decide. */
                        .writable_paths = (const char *const *) i->spec.disks,
                        .seccomp = plan.seccomp && i->manager->config.vmm_seccomp,
                };
                r = sandbox_enter(&sb, &step);
                if (r < 0) {
                        /* Until the fds are rearranged the pipe has its old number; after, it sits
                         * behind the handed-over fds. Writing to a guessed number could hit a tap. */
                        bool moved = step && !streq(step, "spec") && !streq(step, "setsid") &&
                                        !streq(step, "signals") && !streq(step, "fds");
                        child_fail(moved ? errfd : errpipe[1], -r, step ?: "sandbox", NULL);
                }
                /* The error pipe is now fd errfd: close-on-exec again. */
                (void) fcntl(errfd, F_SETFD, FD_CLOEXEC);

                /* Paths the caller gave are checked as the caller, here, never by the daemon. */
                if (i->spec.kernel && access(i->spec.kernel, R_OK) < 0)
                        child_fail(errfd, errno, "kernel", i->spec.kernel);
                if (i->spec.initrd && access(i->spec.initrd, R_OK) < 0)
                        child_fail(errfd, errno, "initrd", i->spec.initrd);
                STRV_FOREACH (d, i->spec.disks)
                        if (access(*d, R_OK | W_OK) < 0)
                                child_fail(errfd, errno, "disk", *d);
                if (plan.check_dir && access(plan.check_dir, R_OK | X_OK) < 0)
                        child_fail(errfd, errno, "directory", plan.check_dir);
                if (plan.check_exe && access(plan.argv[0], X_OK) < 0)
                        child_fail(errfd, errno, "executable", plan.argv[0]);
                if (plan.cwd && chdir(plan.cwd) < 0)
                        child_fail(errfd, errno, "chdir", plan.cwd);

                if (plan.env)
                        execve(plan.argv[0], plan.argv, plan.env);
                else
                        execv(plan.argv[0], plan.argv);
                child_fail(errfd, errno, "exec", plan.argv[0]);
        }

        errpipe[1] = safe_close(errpipe[1]);
        gopipe[0] = safe_close(gopipe[0]);
        if (gopipe[1] >= 0) {
                i->spawn_go_fd = TAKE_FD(gopipe[1]);
                r = scope_start(i,
                                pid,
                                ((uint64_t) i->spec.memory_mb + plan.memory_overhead_mb) * 1024 * 1024,
                                plan.tasks_max);
                if (r < 0) {
                        instance_log(i,
                                     LOG_NOTICE,
                                     "cannot ask systemd for a scope: %s; using the cgroupfs subtree",
                                     strerror(-r));
                        spawn_go(i, 'C');
                }
        }

        /* The child reports through the pipe: EOF means exec happened (the pipe was close-on-
         * exec), a record means it failed. It runs as the caller and may touch the caller's
         * paths (a stalled mount), so wait for it in the event loop, bounded, not here. */
        i->spawn_pid = pid;
        i->spawn_fd = TAKE_FD(errpipe[0]);
        free(i->exe);
        i->exe = strdup(plan.argv[0]);
        i->spawn_note = plan.note;
        r = sd_event_add_io(i->manager->event, &i->spawn_source, i->spawn_fd, EPOLLIN, on_spawn_result, i);
        if (r >= 0)
                r = sd_event_add_time_relative(
                                i->manager->event,
                                &i->spawn_timeout_source,
                                CLOCK_MONOTONIC,
                                SPAWN_TIMEOUT_USEC,
                                0,
                                on_spawn_timeout,
                                i);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                spawn_done(i, NULL, "cannot watch the starting VMM");
                (void) asprintf(ret_error, "cannot watch the starting VMM: %s", strerror(-r));
                return r;
        }
        return 0;
}

static void instance_start_failed(Instance *i, const char *e) {
        instance_log(i, LOG_ERR, "cannot start: %s", strempty(e));
        instance_set_status(i, e);
        instance_set_state(i, INSTANCE_FAILED, REASON_SPAWN_FAILED);
        instance_reply_pending(i, e ?: "unknown error");
}

int instance_start(Instance *i, char **ret_error) {
        _cleanup_free_ char *e = NULL;
        int r;

        if (instance_is_active(i) || i->spawn_pid > 0 || instance_is_removing(i) || instance_is_reaping(i))
                return -EBUSY;

        /* A Start() during the policy's back-off replaces the pending restart. */
        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        i->stop_requested = i->kill_requested = i->guest_shutdown = false;
        i->reason = REASON_REQUESTED;
        instance_set_status(i, NULL);
        {
                /* A setup that will likely never show its boot marker: said where the owner looks. */
                _cleanup_free_ char *w = NULL;

                if (instance_spec_warning(&i->spec, &w) > 0) {
                        instance_log(i, LOG_WARNING, "%s", w);
                        instance_set_status(i, w);
                }
        }
        instance_set_state(i, INSTANCE_STARTING, REASON_REQUESTED);
        r = instance_spawn(i, &e);
        if (e)
                e = escape_nonprintable(e);
        if (r < 0) {
                /* Failed before the child ran: report now (the caller replies, nothing pends). */
                instance_log(i, LOG_ERR, "cannot start: %s", strempty(e));
                instance_set_status(i, e);
                instance_set_state(i, INSTANCE_FAILED, REASON_SPAWN_FAILED);
                if (ret_error)
                        *ret_error = TAKE_PTR(e);
                return r;
        }
        return 0;
}

/* Stop() escalates: ACPI power button, then QMP quit (or SIGTERM), then SIGKILL. */
static int instance_backend_stop(Instance *i, bool graceful) {
        if (!i->ops || !i->ops->stop)
                return -EOPNOTSUPP;
        return i->ops->stop(i, graceful);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        i->stop_timeout_source = sd_event_source_disable_unref(i->stop_timeout_source);
        if (!instance_is_active(i))
                return 0;
        i->stop_stage++;
        if (i->stop_stage == 1) {
                instance_log(i,
                             LOG_INFO,
                             "guest did not power off within %u s; quitting the VMM",
                             i->stop_timeout_sec);
                if (instance_backend_stop(i, false) < 0)
                        (void) instance_signal(i, SIGTERM);
                (void) sd_event_add_time_relative(
                                i->manager->event,
                                &i->stop_timeout_source,
                                CLOCK_MONOTONIC,
                                KILL_TIMEOUT_USEC,
                                0,
                                on_stop_timeout,
                                i);
                return 0;
        }
        instance_log(i, LOG_WARNING, "VMM did not stop; sending SIGKILL");
        (void) instance_signal(i, SIGKILL);
        instance_kill_cgroup(i);
        return 0;
}

int instance_stop(Instance *i) {
        uint64_t timeout;

        i->restart_requested = false;
        if (!instance_is_active(i)) {
                /* Waiting to be restarted by the policy: Stop() cancels that. */
                if (!i->restart_source)
                        return -ESRCH;
                i->restart_source = sd_event_source_disable_unref(i->restart_source);
                i->stop_requested = true;
                instance_set_state(i, INSTANCE_STOPPED, REASON_REQUESTED);
                return 0;
        }
        i->stop_requested = true;
        i->stop_stage = 0;
        i->restart_source = sd_event_source_disable_unref(i->restart_source);

        /* The guest first (QEMU: ACPI power button; crosvm: stop; launch_cvd: its monitor), then
         * signals. The backend sees the state before this call (a paused guest cannot power off). */
        if (instance_backend_stop(i, true) >= 0)
                timeout = (uint64_t) i->stop_timeout_sec * USEC_PER_SEC;
        else {
                (void) instance_signal(i, SIGTERM);
                i->stop_stage = 1;
                timeout = KILL_TIMEOUT_USEC;
        }
        instance_set_state(i, INSTANCE_STOPPING, REASON_REQUESTED);
        i->stop_timeout_source = sd_event_source_disable_unref(i->stop_timeout_source);
        return sd_event_add_time_relative(
                        i->manager->event,
                        &i->stop_timeout_source,
                        CLOCK_MONOTONIC,
                        timeout,
                        0,
                        on_stop_timeout,
                        i);
}

int instance_kill(Instance *i, int sig) {
        if (!instance_is_active(i))
                return -ESRCH;
        i->kill_requested = true;
        i->restart_requested = false;
        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        return instance_signal(i, sig);
}

int instance_suspend(Instance *i) {
        if (i->state != INSTANCE_RUNNING)
                return -EBADRQC;
        if (!i->ops || !i->ops->suspend)
                return -EOPNOTSUPP;
        return i->ops->suspend(i);
}

int instance_resume(Instance *i) {
        if (i->state != INSTANCE_SUSPENDED)
                return -EBADRQC;
        if (!i->ops || !i->ops->resume)
                return -EOPNOTSUPP;
        return i->ops->resume(i);
}

int instance_restart(Instance *i, char **ret_error) {
        if (instance_is_removing(i))
                return -EBUSY;
        i->restart_count++;
        if (!instance_is_active(i))
                return instance_start(i, ret_error);

        /* Quit the VMM now; instance_process_gone() starts it again when its pidfd says it is
         * gone. Nothing here waits: the event loop keeps serving everyone else. */
        i->restart_requested = true;
        i->stop_requested = true;
        i->stop_stage = 1;
        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        if (instance_backend_stop(i, false) < 0)
                (void) instance_signal(i, SIGTERM);
        instance_set_state(i, INSTANCE_STOPPING, REASON_RESTARTING);
        i->stop_timeout_source = sd_event_source_disable_unref(i->stop_timeout_source);
        return sd_event_add_time_relative(
                        i->manager->event,
                        &i->stop_timeout_source,
                        CLOCK_MONOTONIC,
                        KILL_TIMEOUT_USEC,
                        0,
                        on_stop_timeout,
                        i);
}

#define REMOVE_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* Out of the pidfd callback: removing frees i. */
static int on_remove(sd_event_source *s, void *userdata) {
        Instance *i = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = TAKE_PTR(i->remove_reply);

        i->remove_source = sd_event_source_disable_unref(i->remove_source);
        i->remove_timeout_source = sd_event_source_disable_unref(i->remove_timeout_source);
        manager_remove_instance(i->manager, i);
        if (reply)
                (void) sd_bus_reply_method_return(reply, NULL);
        return 0;
}

static void instance_remove_finish_later(Instance *i) {
        if (i->remove_source)
                return;
        if (sd_event_add_defer(i->manager->event, &i->remove_source, on_remove, i) < 0)
                (void) on_remove(NULL, i);
}

static int on_remove_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        _cleanup_free_ char *what = NULL;
        Instance *i = userdata;

        i->remove_timeout_source = sd_event_source_disable_unref(i->remove_timeout_source);
        /* Not removed: the slot stays ours until the VMM is gone (its pidfd is still watched). */
        what = cgroup_pids_describe(&i->pid, 1, 1);
        instance_enter_leaked(i, what);
        return 0;
}

int instance_remove_async(Instance *i, sd_bus_message *message) {
        int r;

        if (instance_is_removing(i))
                return -EBUSY;
        if (instance_is_reaping(i)) {
                /* The VMM is gone, what it left is being ended: answer when that is done. */
                i->remove_reply = sd_bus_message_ref(message);
                i->restart_requested = false;
                i->restart_source = sd_event_source_disable_unref(i->restart_source);
                i->kill_requested = true;
                return 1;
        }
        if (!instance_is_active(i)) {
                /* No VMM, but maybe processes in the slot's leaf (daemon-lost, leaked-processes). */
                if (i->spawn_pid > 0 || instance_reap_tree(i, true) == 0)
                        return 0;
                i->remove_reply = sd_bus_message_ref(message);
                return 1;
        }
        r = sd_event_add_time_relative(
                        i->manager->event,
                        &i->remove_timeout_source,
                        CLOCK_MONOTONIC,
                        REMOVE_TIMEOUT_USEC,
                        0,
                        on_remove_timeout,
                        i);
        if (r < 0)
                return 0; /* remove synchronously, as before */
        i->remove_reply = sd_bus_message_ref(message);
        i->restart_requested = false;
        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        i->kill_requested = true;
        (void) instance_signal(i, SIGKILL);
        instance_kill_cgroup(i);
        return 1;
}

void instance_release(Instance *i) {
        char leaf[32];

        if (i->spawn_pid > 0) {
                (void) kill(i->spawn_pid, SIGKILL);
                (void) waitpid(i->spawn_pid, NULL, 0);
                i->spawn_pid = 0;
                i->spawn_source = sd_event_source_disable_unref(i->spawn_source);
                i->spawn_timeout_source = sd_event_source_disable_unref(i->spawn_timeout_source);
                i->spawn_fd = safe_close(i->spawn_fd);
                i->spawn_go_fd = safe_close(i->spawn_go_fd);
                i->scope_slot = sd_bus_slot_unref(i->scope_slot);
                i->scope_check_source = sd_event_source_disable_unref(i->scope_check_source);
        }
        if (i->pending_reply) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(i->pending_reply);
                (void) sd_bus_reply_method_errorf(
                                m,
                                BUS_ERROR_NO_SUCH_INSTANCE,
                                "Instance %u was removed while it was starting.",
                                i->number);
        }
        i->restart_requested = false;
        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        control_abort(i);
        if (instance_is_active(i)) {
                i->kill_requested = true;
                (void) instance_signal(i, SIGKILL);
                instance_kill_cgroup(i);
                (void) wait_pid_exit(i->pid, i->remove_gave_up ? 0 : 5000);
                if (i->pidfd_source)
                        (void) on_pidfd(i->pidfd_source, i->pidfd, 0, i);
        }
        i->restart_source = sd_event_source_disable_unref(i->restart_source);
        instance_release_taps(i);
        if (!i->scope && instance_leaf_name(i->number, leaf, sizeof(leaf)) >= 0)
                (void) cgroup_leaf_remove(&i->manager->cgroups, leaf);
        /* Everything the VMM left there (console, sockets, launch_cvd's home and tmp): out of the
         * slot's way now, deleted in the background. */
        if (i->runtime_dir)
                manager_trash_dir(i->manager, i->runtime_dir);
}

int instance_adopt(Instance *i, pid_t pid, uint64_t starttime, const char *exe) {
        bool suspended = i->state == INSTANCE_SUSPENDED;
        int r;

        i->pid = pid;
        i->pid_starttime = starttime;
        free(i->exe);
        i->exe = strdup(exe);
        /* A paused guest stays paused across our restart: keep saying so (the control channel
         * promotes only a starting instance). Anything else is confirmed running by it. */
        if (!suspended)
                instance_set_state(i, INSTANCE_STARTING, REASON_REQUESTED);
        /* Booted before the daemon restart if the marker is in this run's part of the console. */
        i->console_offset = i->console_start;
        i->marker_tail_len = 0;
        console_scan(i);
        r = instance_watch(i);
        if (r < 0) {
                i->pid = 0;
                return r;
        }
        if (suspended)
                instance_changed(i);
        return 0;
}

int instance_new(
                Manager *m,
                unsigned number,
                uid_t owner,
                gid_t gid,
                const gid_t *groups,
                size_t n_groups,
                InstanceSpec *spec,
                Instance **ret) {
        static const TapKind kinds[INSTANCE_NICS] = { TAP_ETHERNET, TAP_WIFI, TAP_MOBILE };
        _cleanup_(instance_freep) Instance *i = NULL;
        int r;

        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        *i = (Instance){
                .manager = m,
                .ops = backend_ops(spec->backend),
                .number = number,
                .owner = owner,
                .owner_gid = gid,
                .pidfd = -EBADF,
                .spawn_fd = -EBADF,
                .spawn_go_fd = -EBADF,
                .control_pidfd = -EBADF,
                .state = INSTANCE_CREATING,
                .reason = REASON_REQUESTED,
                .vsock_cid = slot_vsock_cid(number),
                .created_realtime = now_usec(CLOCK_REALTIME),
                .stop_timeout_sec = spec->stop_timeout_sec > 0 ? spec->stop_timeout_sec
                                                               : STOP_TIMEOUT_DEFAULT_SEC,
        };
        if (n_groups > 0) {
                i->groups = calloc(n_groups, sizeof(gid_t));
                if (!i->groups)
                        return -ENOMEM;
                memcpy(i->groups, groups, n_groups * sizeof(gid_t));
                i->n_groups = n_groups;
        }
        for (size_t k = 0; k < INSTANCE_NICS; k++) {
                uint8_t mac[6];

                (void) slot_tap_name(number, kinds[k], i->taps[k]);
                (void) slot_guest_mac(number, kinds[k], mac);
                mac_to_string(mac, i->macs[k]);
        }
        if (!(i->object_path = cf_instance_path(number)) ||
            asprintf(&i->runtime_dir, "%s/instances/%u", m->runtime_dir, number) < 0 ||
            asprintf(&i->console_log, "%s/console.log", i->runtime_dir) < 0 ||
            asprintf(&i->home_dir, "%s/home", i->runtime_dir) < 0 ||
            asprintf(&i->tmp_dir, "%s/tmp", i->runtime_dir) < 0)
                return -ENOMEM;
        /* Each backend's control socket, under the runtime dir: QMP, crosvm's --socket, and
         * launch_cvd's monitor under its TMPDIR (vmm/cvd.h). */
        switch (spec->backend) {
        case BACKEND_CROSVM:
                r = asprintf(&i->control_path, "%s/crosvm_control.sock", i->runtime_dir) < 0 ? -ENOMEM : 0;
                break;
        case BACKEND_CVD:
                r = cvd_monitor_path(i->tmp_dir, owner, number, &i->control_path);
                break;
        default:
                r = asprintf(&i->control_path, "%s/qmp.sock", i->runtime_dir) < 0 ? -ENOMEM : 0;
                break;
        }
        if (r < 0)
                return r;
        if (!spec->boot_marker && i->ops && i->ops->default_boot_marker) {
                spec->boot_marker = strdup(i->ops->default_boot_marker);
                if (!spec->boot_marker)
                        return -ENOMEM;
        }

        i->spec = *spec;
        *spec = (InstanceSpec){};
        *ret = TAKE_PTR(i);
        return 0;
}

Instance *instance_free(Instance *i) {
        if (!i)
                return NULL;
        control_abort(i);
        sd_event_source_disable_unref(i->spawn_source);
        sd_event_source_disable_unref(i->spawn_timeout_source);
        safe_close(i->spawn_fd);
        sd_bus_message_unref(i->pending_reply);
        sd_bus_message_unref(i->remove_reply);
        sd_bus_slot_unref(i->scope_slot);
        sd_event_source_disable_unref(i->scope_check_source);
        safe_close(i->spawn_go_fd);
        free(i->scope);
        sd_event_source_disable_unref(i->remove_source);
        sd_event_source_disable_unref(i->remove_timeout_source);
        sd_event_source_disable_unref(i->pidfd_source);
        safe_close(i->pidfd);
        sd_event_source_disable_unref(i->console_source);
        sd_event_source_disable_unref(i->boot_timeout_source);
        sd_event_source_disable_unref(i->stop_timeout_source);
        sd_event_source_disable_unref(i->restart_source);
        instance_disconnect(i);
        instance_spec_done(&i->spec);
        free(i->groups);
        free(i->object_path);
        free(i->status_text);
        free(i->exe);
        free(i->runtime_dir);
        free(i->console_log);
        free(i->control_path);
        free(i->home_dir);
        free(i->tmp_dir);
        return mfree(i);
}
