/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bus-api.h"
#include "common/escape.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/strv.h"
#include "common/time-util.h"
#include "daemon/backend.h"
#include "daemon/instance-bus.h"
#include "daemon/instance-options.h"
#include "daemon/instance.h"
#include "daemon/manager.h"
#include "daemon/network.h"
#include "daemon/reap.h"
#include "daemon/scope.h"
#include "netsetup/plan.h"
#include "netsetup/tap.h"
#include "vmm/cgroup.h"

static void instance_changed(Instance *i) {
        manager_instance_changed(i->manager, i);
}

/* The timer */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* When the current sub-state times out (CLOCK_MONOTONIC), or 0 for never. */
static uint64_t instance_deadline(Instance *i) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        switch (i->sub) {
        case INSTANCE_SUB_SPAWNING:
                return now + SPAWN_TIMEOUT_USEC;
        case INSTANCE_SUB_STARTING:
        case INSTANCE_SUB_RUNNING:
        case INSTANCE_SUB_PAUSED:
                return i->booted ? 0 : i->boot_deadline;
        case INSTANCE_SUB_STOP_GRACEFUL:
                return now + (uint64_t) i->stop_timeout_sec * USEC_PER_SEC;
        case INSTANCE_SUB_STOP_QUIT:
                return now + INSTANCE_KILL_TIMEOUT_USEC;
        case INSTANCE_SUB_STOP_KILL:
                /* Only a removal waits for the end of SIGKILL; a Stop() waits as long as it takes. */
                return i->removing ? now + INSTANCE_KILL_TIMEOUT_USEC : 0;
        case INSTANCE_SUB_AUTO_RESTART:
                return now + i->restart_delay_usec;
        case INSTANCE_SUB_NEW:
        case INSTANCE_SUB_REAPING: /* bounded by the Reap itself */
        case INSTANCE_SUB_DEAD:
        case INSTANCE_SUB_LEAKED:
        case _INSTANCE_SUB_MAX:
        case _INSTANCE_SUB_INVALID:
                break;
        }
        return 0;
}

static int instance_arm_timer(Instance *i) {
        uint64_t deadline = instance_deadline(i);
        int r;

        if (deadline == 0)
                return sd_event_source_set_enabled(i->timer_source, SD_EVENT_OFF);
        if (i->timer_source) {
                r = sd_event_source_set_time(i->timer_source, deadline);
                if (r >= 0)
                        r = sd_event_source_set_enabled(i->timer_source, SD_EVENT_ONESHOT);
                return r;
        }
        return sd_event_add_time(
                        i->manager->event,
                        &i->timer_source,
                        CLOCK_MONOTONIC,
                        deadline,
                        USEC_PER_MSEC,
                        on_timer,
                        i);
}

/* The one state setter */

static bool sub_state_has_vmm(InstanceSubState s) {
        switch (s) {
        case INSTANCE_SUB_STARTING:
        case INSTANCE_SUB_RUNNING:
        case INSTANCE_SUB_PAUSED:
        case INSTANCE_SUB_STOP_GRACEFUL:
        case INSTANCE_SUB_STOP_QUIT:
        case INSTANCE_SUB_STOP_KILL:
        case INSTANCE_SUB_LEAKED: /* maybe: a VMM that outlived SIGKILL */
                return true;
        case INSTANCE_SUB_NEW:
        case INSTANCE_SUB_SPAWNING:
        case INSTANCE_SUB_REAPING:
        case INSTANCE_SUB_AUTO_RESTART:
        case INSTANCE_SUB_DEAD:
        case _INSTANCE_SUB_MAX:
        case _INSTANCE_SUB_INVALID:
                break;
        }
        return false;
}

static void instance_disconnect(Instance *i) {
        if (i->ops && i->ops->disconnect)
                i->ops->disconnect(i);
        instance_control_stop_waiting(i);
}

/* Enters sub-state s with result (the public reason from now on), drops what s does not need and
 * arms the timer s has. */
static void instance_set_state(Instance *i, InstanceSubState s, InstanceReason result) {
        InstanceState state = instance_sub_state_public(s, result);
        int r;

        i->sub = s;
        if (s != INSTANCE_SUB_SPAWNING)
                instance_spawn_abandon(i);
        if (s != INSTANCE_SUB_REAPING)
                i->reap = reap_free(i->reap);
        if (!sub_state_has_vmm(s)) {
                console_watch_stop(&i->console);
                instance_disconnect(i);
                instance_control_abort(i);
        }
        r = instance_arm_timer(i);
        if (r < 0)
                instance_log(i,
                             LOG_WARNING,
                             "cannot arm the %s timer: %s",
                             instance_sub_state_to_string(s),
                             strerror(-r));

        if (state == i->state && result == i->reason)
                return;
        instance_log(i,
                     state == INSTANCE_FAILED ? LOG_WARNING : LOG_INFO,
                     "%s (%s)",
                     instance_state_to_string(state),
                     instance_reason_to_string(result));
        i->state = state;
        i->reason = result;
        instance_changed(i);
}

/* The run's outcome so far, by precedence: a boot timeout beats a request to stop (or restart),
 * which beats a signal someone sent. */
static int result_rank(InstanceReason r) {
        return r == REASON_BOOT_TIMEOUT                                   ? 3
                        : r == REASON_REQUESTED || r == REASON_RESTARTING ? 2
                        : r == REASON_KILLED                              ? 1
                                                                          : 0;
}

static void instance_set_result(Instance *i, InstanceReason r) {
        if (i->result < 0 || result_rank(r) >= result_rank(i->result))
                i->result = r;
}

static void instance_set_booted(Instance *i, bool b) {
        if (i->booted == b)
                return;
        i->booted = b;
        if (b) {
                instance_log(i, LOG_INFO, "booted");
                i->boot_deadline = 0;
                /* A guest that booted runs, whether or not its control socket was seen yet. */
                if (i->sub == INSTANCE_SUB_STARTING)
                        instance_set_state(i, INSTANCE_SUB_RUNNING, REASON_REQUESTED);
                else
                        (void) instance_arm_timer(i);
        }
        instance_changed(i);
}

static void on_boot_marker(ConsoleWatch *c, void *userdata) {
        instance_set_booted(userdata, true);
}

/* Stopping */

static int instance_backend_stop(Instance *i, bool graceful) {
        if (!i->ops || !i->ops->stop)
                return -EOPNOTSUPP;
        return i->ops->stop(i, graceful);
}

static void instance_enter_stop_kill(Instance *i, InstanceReason result) {
        (void) instance_signal(i, SIGKILL);
        instance_kill_tree(i);
        instance_set_state(i, INSTANCE_SUB_STOP_KILL, result);
}

static void instance_enter_stop_quit(Instance *i, InstanceReason result) {
        if (instance_backend_stop(i, false) < 0)
                (void) instance_signal(i, SIGTERM);
        instance_set_state(i, INSTANCE_SUB_STOP_QUIT, result);
}

/* The guest first (QEMU: ACPI power button; crosvm: stop; launch_cvd: its monitor), then
 * signals. The backend sees the state before this (a paused guest cannot power off). */
static void instance_enter_stop_graceful(Instance *i, InstanceReason result) {
        if (instance_backend_stop(i, true) < 0) {
                instance_enter_stop_quit(i, result);
                return;
        }
        instance_set_state(i, INSTANCE_SUB_STOP_GRACEFUL, result);
}

/* The tree could not be emptied: the slot is not given back (the instance keeps it) until a later
 * Remove() finds the leaf empty. */
static void instance_enter_leaked(Instance *i, const char *what) {
        _cleanup_free_ char *text = NULL;

        (void) asprintf(&text,
                        "processes of the VMM did not end within %u s of SIGKILL: %s; the slot stays reserved "
                        "until they are gone (remove the instance again)",
                        (unsigned) (REAP_TIMEOUT_USEC / USEC_PER_SEC),
                        strempty(what));
        instance_log(i, LOG_ERR, "%s", strempty(text));
        instance_set_status(i, text);
        i->removing = false;
        instance_set_state(i, INSTANCE_SUB_LEAKED, REASON_LEAKED_PROCESSES);
        instance_bus_send_remove_reply(i, BUS_ERROR_LEAKED_PROCESSES, text);
}

/* Exit and restart policy */

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

/* Back-off: 500 ms, doubling with each earlier restart still inside the window, at most 10 s;
 * restarts older than the window no longer count. */
static uint64_t restart_delay(Instance *i) {
        uint64_t delay = 500 * USEC_PER_MSEC, now = now_usec(CLOCK_MONOTONIC);

        for (size_t n = 1; n < INSTANCE_RESTART_BURST; n++)
                if (i->restart_times[n] > 0 && now - i->restart_times[n] < INSTANCE_RESTART_INTERVAL_USEC)
                        delay = MIN(delay * 2, 10 * USEC_PER_SEC);
        return delay;
}

static bool restart_wanted(Instance *i, InstanceReason result) {
        if (result == REASON_REQUESTED || result == REASON_KILLED)
                return false;
        switch (i->spec.restart) {
        case RESTART_NO:
                return false;
        case RESTART_ON_FAILURE:
                /* A guest that asked for a reset (crosvm exit 32) is started again like a failure
                 * is, as Cuttlefish's process_restarter does. */
                return instance_reason_is_failure(result) || result == REASON_GUEST_RESET;
        case RESTART_ALWAYS:
        case _RESTART_MAX:
        case _RESTART_INVALID:
                break;
        }
        return true;
}

static void instance_enter_dead(Instance *i, InstanceReason result) {
        if (!restart_wanted(i, result)) {
                instance_set_state(i, INSTANCE_SUB_DEAD, result);
                return;
        }
        if (restart_rate_exceeded(i)) {
                instance_set_state(i, INSTANCE_SUB_DEAD, result);
                instance_log(i,
                             LOG_WARNING,
                             "restarted %u times within %llu s; giving up",
                             INSTANCE_RESTART_BURST,
                             (unsigned long long) (INSTANCE_RESTART_INTERVAL_USEC / USEC_PER_SEC));
                instance_set_state(i, INSTANCE_SUB_DEAD, REASON_RESTART_LIMIT);
                return;
        }
        i->restart_delay_usec = restart_delay(i);
        instance_set_state(i, INSTANCE_SUB_AUTO_RESTART, result);
        instance_log(i,
                     LOG_INFO,
                     "restarting in %llu ms (policy %s)",
                     (unsigned long long) (i->restart_delay_usec / USEC_PER_MSEC),
                     restart_policy_to_string(i->spec.restart));
}

static void instance_log_exit(Instance *i, InstanceReason result) {
        int level = instance_reason_is_failure(result) ? LOG_WARNING : LOG_INFO, status = i->exit_status;

        if (status < 0 && status != INT32_MIN)
                instance_log(i, level, "VMM killed by signal %s", sigabbrev_np(-status) ?: "?");
        else if (status != INT32_MIN)
                instance_log(i, level, "VMM exited with status %i", status);
}

/* The VMM and its whole tree are gone. */
static void instance_exit_finish(Instance *i) {
        InstanceReason result = i->result;
        _cleanup_free_ char *e = NULL;

        instance_log_exit(i, result);
        if (i->removing) {
                instance_set_state(i, INSTANCE_SUB_DEAD, result);
                instance_add_to_gc_queue(i);
                return;
        }
        if (result == REASON_RESTARTING) {
                if (instance_start(i, &e) < 0)
                        instance_log(i, LOG_ERR, "restart failed: %s", strempty(e));
                return;
        }
        instance_enter_dead(i, result);
}

static void on_tree_reaped(Reap *r, int result, const char *leftovers, void *userdata) {
        Instance *i = userdata;

        i->reap = reap_free(i->reap);
        if (result == -ETIMEDOUT) {
                instance_enter_leaked(i, leftovers);
                return;
        }
        if (result < 0)
                instance_log(i, LOG_WARNING, "cannot read its cgroup: %s", strerror(-result));
        instance_exit_finish(i);
}

/* Ends what is left in the slot's leaf: false, nothing was; true, REAPING until it is gone. */
static bool instance_enter_reaping(Instance *i, InstanceReason result) {
        char leaf[32];
        int r;

        if (i->scope || instance_leaf_name(i->number, leaf, sizeof(leaf)) < 0)
                return false;
        r = reap_start(i->manager->event,
                       manager_cgroups(i->manager),
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
                return false;
        instance_log(i, LOG_INFO, "ending the processes the VMM left in its cgroup");
        instance_set_state(i, INSTANCE_SUB_REAPING, result); /* keeps the Reap: it is this sub-state's */
        return true;
}

/* How the run ended, once the VMM is gone: what was asked of it first, then what its exit status
 * and the control channel said. */
static InstanceReason instance_exit_result(Instance *i) {
        InstanceReason r;

        if (i->result >= 0)
                return i->result;
        if (i->ops && i->ops->exit_outcome && i->ops->exit_outcome(i, i->exit_status, &r))
                return r;
        if (i->guest_panicked)
                return REASON_GUEST_PANIC;
        if (i->guest_shutdown || i->exit_status == 0)
                return REASON_EXITED;
        return REASON_CRASHED;
}

static void instance_process_gone(Instance *i) {
        i->pidfd_source = sd_event_source_disable_unref(i->pidfd_source);
        i->pidfd = safe_close(i->pidfd);
        console_watch_stop(&i->console);
        instance_disconnect(i);
        instance_kill_tree(i);
        i->pid = 0;
        i->pid_starttime = 0;
        i->booted = false;
        /* Its cgroup goes with it: systemd collects a scope; ours the reap removes. */
        i->scope = mfree(i->scope);
        i->result = instance_exit_result(i);
        /* The taps stay the owner's while the instance holds the slot (stopped, failed, waiting
         * for a restart); Remove() gives them back to the pool. Not stopped until the whole tree
         * is gone. */
        if (instance_enter_reaping(i, i->result))
                return;
        instance_exit_finish(i);
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

/* Watching a VMM that runs: its pidfd, its console, its control channel. */
static int instance_watch(Instance *i) {
        int r;

        i->pidfd = (int) syscall(SYS_pidfd_open, i->pid, 0);
        if (i->pidfd < 0)
                return -errno;
        r = sd_event_add_io(i->manager->event, &i->pidfd_source, i->pidfd, EPOLLIN, on_pidfd, i);
        if (r < 0)
                return r;
        i->boot_deadline = 0;
        if (i->spec.boot_marker && !i->booted) {
                if (i->spec.boot_timeout_sec > 0)
                        i->boot_deadline = now_usec(CLOCK_MONOTONIC) +
                                        (uint64_t) i->spec.boot_timeout_sec * USEC_PER_SEC;
                r = console_watch_start(
                                &i->console, i->manager->event, i->spec.boot_marker, on_boot_marker, i);
                if (r < 0)
                        instance_log(i, LOG_WARNING, "cannot follow the console: %s", strerror(-r));
        }
        i->control.attempts = 0;
        if (i->ops && i->ops->connect)
                (void) i->ops->connect(i);
        /* The boot deadline is known now. */
        return instance_arm_timer(i);
}

static void on_timeout_boot(Instance *i) {
        if (console_watch_scan(&i->console)) {
                instance_set_booted(i, true);
                return;
        }
        instance_log(i,
                     LOG_WARNING,
                     "no boot marker \"%s\" on the console within %u s; killing the VMM",
                     i->spec.boot_marker,
                     i->spec.boot_timeout_sec);
        instance_set_status(i, "boot timeout");
        instance_set_result(i, REASON_BOOT_TIMEOUT);
        instance_enter_stop_kill(i, REASON_BOOT_TIMEOUT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        _cleanup_free_ char *e = NULL;
        Instance *i = userdata;

        switch (i->sub) {
        case INSTANCE_SUB_SPAWNING:
                instance_notify_spawn_failed(
                                i,
                                "the sandboxed child did not reach exec within 10 s (is a kernel, "
                                "initrd or disk path on a stalled mount?)");
                break;
        case INSTANCE_SUB_STARTING:
        case INSTANCE_SUB_RUNNING:
        case INSTANCE_SUB_PAUSED:
                on_timeout_boot(i);
                break;
        case INSTANCE_SUB_STOP_GRACEFUL:
                instance_log(i,
                             LOG_INFO,
                             "guest did not power off within %u s; quitting the VMM",
                             i->stop_timeout_sec);
                instance_enter_stop_quit(i, i->reason);
                break;
        case INSTANCE_SUB_STOP_QUIT:
                instance_log(i, LOG_WARNING, "VMM did not stop; sending SIGKILL");
                instance_enter_stop_kill(i, i->reason);
                break;
        case INSTANCE_SUB_STOP_KILL:
                /* Not removed: the slot stays ours until the VMM is gone (its pidfd is still watched). */
                e = cgroup_pids_describe(&i->pid, 1, 1);
                instance_enter_leaked(i, e);
                break;
        case INSTANCE_SUB_AUTO_RESTART:
                i->restart_count++;
                if (instance_start(i, &e) < 0)
                        instance_log(i, LOG_ERR, "restart failed: %s", strempty(e));
                break;
        case INSTANCE_SUB_NEW:
        case INSTANCE_SUB_REAPING:
        case INSTANCE_SUB_DEAD:
        case INSTANCE_SUB_LEAKED:
        case _INSTANCE_SUB_MAX:
        case _INSTANCE_SUB_INVALID:
                break;
        }
        return 0;
}

/* What the spawn, the console, the backends and the control channel saw */

/* What the kernel says runs, for re-adoption: no path of the caller's is resolved later. */
static void instance_read_exe(Instance *i) {
        char *exe = NULL;

        if (pid_get_exe(i->pid, &exe) < 0)
                return;
        free(i->exe);
        i->exe = exe;
}

void instance_notify_spawned(Instance *i, pid_t pid) {
        int r;

        i->pid = pid;
        (void) pid_get_starttime(pid, &i->pid_starttime);
        instance_read_exe(i);
        i->started_realtime = now_usec(CLOCK_REALTIME);
        i->exit_status = 0;
        instance_log(i,
                     LOG_INFO,
                     "VMM started (pid %i, %s%s%s)",
                     (int) pid,
                     strempty(i->exe),
                     i->spawn.note ? ", " : "",
                     strempty(i->spawn.note));
        instance_set_state(i, INSTANCE_SUB_STARTING, REASON_REQUESTED);
        r = instance_watch(i);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) reap_child_detached(i->manager->event, pid);
                i->pidfd_source = sd_event_source_disable_unref(i->pidfd_source);
                i->pidfd = safe_close(i->pidfd);
                i->pid = 0;
                instance_notify_spawn_failed(i, "cannot watch the VMM");
                return;
        }
        instance_changed(i);
        instance_bus_send_start_reply(i, NULL);
}

void instance_notify_spawn_failed(Instance *i, const char *error) {
        instance_log(i, LOG_ERR, "cannot start: %s", error);
        instance_set_status(i, error);
        instance_set_state(i, INSTANCE_SUB_DEAD, REASON_SPAWN_FAILED);
        /* A failed CreateInstance() keeps nothing: the instance goes once the error is sent. */
        if (instance_bus_send_start_reply(i, error))
                instance_add_to_gc_queue(i);
}

void instance_notify_control_ready(Instance *i) {
        if (i->sub == INSTANCE_SUB_STARTING)
                instance_set_state(i, INSTANCE_SUB_RUNNING, REASON_REQUESTED);
        if (!i->spec.boot_marker)
                instance_set_booted(i, true);
}

void instance_notify_guest_reset(Instance *i) {
        instance_log(i, LOG_INFO, "guest reset");
        if (i->spec.boot_marker) {
                /* The next boot's marker is what counts now. */
                console_watch_skip_to_end(&i->console);
                instance_set_booted(i, false);
                (void) console_watch_start(
                                &i->console, i->manager->event, i->spec.boot_marker, on_boot_marker, i);
        }
        if (i->sub == INSTANCE_SUB_RUNNING)
                instance_set_state(i, INSTANCE_SUB_RUNNING, REASON_GUEST_RESET);
}

void instance_notify_guest_panic(Instance *i) {
        instance_log(i, LOG_WARNING, "guest panicked");
        i->guest_panicked = true;
}

void instance_notify_guest_shutdown(Instance *i) {
        i->guest_shutdown = true;
}

void instance_notify_paused(Instance *i, bool paused) {
        if (paused && i->sub == INSTANCE_SUB_RUNNING)
                instance_set_state(i, INSTANCE_SUB_PAUSED, REASON_REQUESTED);
        else if (!paused && (i->sub == INSTANCE_SUB_PAUSED || i->sub == INSTANCE_SUB_STARTING))
                instance_set_state(i, INSTANCE_SUB_RUNNING, REASON_REQUESTED);
}

/* Verbs */

int instance_start(Instance *i, char **ret_error) {
        _cleanup_free_ char *e = NULL, *w = NULL;
        int r;

        if (instance_is_active(i) || instance_spawn_running(i) || instance_is_removing(i) ||
            instance_is_reaping(i))
                return -EBUSY;

        i->result = _INSTANCE_REASON_INVALID;
        i->guest_shutdown = i->guest_panicked = false;
        instance_set_status(i, NULL);
        /* A setup that will likely never show its boot marker: said where the owner looks. */
        if (instance_spec_warning(&i->spec, &w) > 0) {
                instance_log(i, LOG_WARNING, "%s", w);
                instance_set_status(i, w);
        }
        /* A Start() during the policy's back-off replaces the pending restart. */
        instance_set_state(i, INSTANCE_SUB_SPAWNING, REASON_REQUESTED);
        r = instance_spawn(i, &e);
        if (r < 0) {
                /* Failed before the child ran: report now (the caller replies, nothing pends). */
                e = escape_nonprintable(TAKE_PTR(e));
                instance_log(i, LOG_ERR, "cannot start: %s", strempty(e));
                instance_set_status(i, e);
                instance_set_state(i, INSTANCE_SUB_DEAD, REASON_SPAWN_FAILED);
                if (ret_error)
                        *ret_error = TAKE_PTR(e);
                return r;
        }
        return 0;
}

int instance_stop(Instance *i) {
        if (!instance_is_active(i)) {
                /* Waiting to be restarted by the policy: Stop() cancels that. */
                if (i->sub != INSTANCE_SUB_AUTO_RESTART)
                        return -ESRCH;
                instance_set_state(i, INSTANCE_SUB_DEAD, REASON_REQUESTED);
                return 0;
        }
        instance_set_result(i, REASON_REQUESTED);
        instance_enter_stop_graceful(i, REASON_REQUESTED);
        return 0;
}

int instance_kill(Instance *i, int sig) {
        if (!instance_is_active(i))
                return -ESRCH;
        /* A signal of the caller's is no crash, and cancels a Restart() under way. */
        if (i->result == REASON_RESTARTING)
                i->result = REASON_REQUESTED;
        instance_set_result(i, REASON_KILLED);
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
        /* Quit the VMM now; when it is gone instance_exit_finish() starts it again. Nothing here
         * waits: the event loop keeps serving everyone else. */
        instance_set_result(i, REASON_RESTARTING);
        instance_enter_stop_quit(i, REASON_RESTARTING);
        return 0;
}

int instance_remove(Instance *i, sd_bus_message *message) {
        if (instance_is_removing(i))
                return -EBUSY;
        if (i->sub == INSTANCE_SUB_SPAWNING)
                instance_set_state(i, INSTANCE_SUB_DEAD, REASON_KILLED); /* abandons the child */
        if (i->sub == INSTANCE_SUB_REAPING) {
                /* The VMM is gone, what it left is being ended: answer when that is done. */
                instance_set_result(i, REASON_KILLED);
        } else if (!instance_is_active(i)) {
                /* No VMM, but maybe processes in the slot's leaf (daemon-lost, leaked-processes,
                 * a child killed while it was starting). */
                i->result = REASON_KILLED;
                i->exit_status = INT32_MIN; /* no run ends here: nothing to log */
                if (!instance_enter_reaping(i, REASON_KILLED))
                        return 0;
        } else {
                instance_set_result(i, REASON_KILLED);
                i->removing = true;
                instance_enter_stop_kill(i, i->result); /* a Stop() under way keeps its reason */
        }
        i->removing = true;
        i->remove_reply = sd_bus_message_ref(message);
        return 1;
}

/* Recovery */

int instance_adopt(Instance *i, pid_t pid, uint64_t starttime, const char *exe, bool suspended) {
        int r;

        i->pid = pid;
        i->pid_starttime = starttime;
        free(i->exe);
        i->exe = strdup(exe);
        i->result = _INSTANCE_REASON_INVALID;
        i->exit_status = INT32_MIN;
        /* A paused guest stays paused across our restart: keep saying so (the control channel
         * promotes only a starting instance). Anything else is confirmed running by it. */
        instance_set_state(i, suspended ? INSTANCE_SUB_PAUSED : INSTANCE_SUB_STARTING, REASON_REQUESTED);
        /* Booted before the daemon restart if the marker is in this run's part of the console. */
        i->console.offset = i->console.start;
        i->console.tail_len = 0;
        r = instance_watch(i);
        if (r < 0) {
                i->pidfd_source = sd_event_source_disable_unref(i->pidfd_source);
                i->pidfd = safe_close(i->pidfd);
                i->pid = 0;
                return r;
        }
        return 0;
}

void instance_enter_created(Instance *i) {
        if (i->sub == INSTANCE_SUB_NEW)
                instance_set_state(i, INSTANCE_SUB_DEAD, REASON_REQUESTED);
}

void instance_enter_recovered(Instance *i, InstanceState state, InstanceReason reason) {
        InstanceSubState s = state == INSTANCE_CREATING     ? INSTANCE_SUB_NEW
                        : reason == REASON_LEAKED_PROCESSES ? INSTANCE_SUB_LEAKED
                                                            : INSTANCE_SUB_DEAD;

        if (state != INSTANCE_CREATING && state != INSTANCE_STOPPED && state != INSTANCE_FAILED) {
                /* It ran when the record was written, and does no more. */
                state = INSTANCE_FAILED;
                reason = REASON_DAEMON_LOST;
        }
        instance_set_state(i, s, reason);
}
