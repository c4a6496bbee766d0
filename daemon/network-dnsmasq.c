/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/time-util.h"
#include "daemon/network-dnsmasq.h"
#include "netsetup/dnsmasq.h"

#define DNSMASQ_BACKOFF_MIN_USEC (100 * USEC_PER_MSEC)
#define DNSMASQ_BACKOFF_MAX_USEC (10 * USEC_PER_SEC)
#define DNSMASQ_STABLE_USEC (30 * USEC_PER_SEC)
#define DNSMASQ_STOP_TIMEOUT_MSEC 3000
#define DNSMASQ_STOP_TIMEOUT_USEC (DNSMASQ_STOP_TIMEOUT_MSEC * USEC_PER_MSEC)

static int dnsmasq_child_spawn(DnsmasqChild *d, const char *conf);

static char *dnsmasq_pid_path(const DnsmasqEnv *env, const char *bridge) {
        char *p;

        if (asprintf(&p, "%s/dnsmasq-%s.pid", env->runtime_dir, bridge) < 0)
                return NULL;
        return p;
}

static void dnsmasq_unlink_record(const DnsmasqEnv *env, const char *bridge) {
        _cleanup_free_ char *path = dnsmasq_pid_path(env, bridge);

        if (path)
                (void) unlink(path);
}

static void dnsmasq_record(DnsmasqChild *d) {
        _cleanup_free_ char *path = dnsmasq_pid_path(d->env, d->bridge), *rec = NULL;
        uint64_t st;

        if (!path || pid_get_starttime(d->pid, &st) < 0)
                return;
        if (asprintf(&rec, "%i %llu\n", (int) d->pid, (unsigned long long) st) < 0)
                return;
        (void) write_file_atomic(path, rec, 0644);
}

void dnsmasq_child_init(DnsmasqChild *d, DnsmasqEnv *env) {
        *d = (DnsmasqChild){
                .env = env,
                .stop.pidfd = -EBADF,
        };
}

/* The stop is over: gone, or given up on. notify: tell the owner (not while it is in the middle
 * of a change itself: it looks at dnsmasq_child_stopping() when done). */
static void dnsmasq_stop_end(DnsmasqChild *d, bool gone, bool notify) {
        _cleanup_free_ char *conf = TAKE_PTR(d->start_config);
        DnsmasqStop *st = &d->stop;
        int r = 0;

        if (gone && st->child)
                log_info("Stopped dnsmasq for %s (pid %i).", st->bridge, (int) st->pid);
        st->exit_source = sd_event_source_disable_unref(st->exit_source);
        st->timer_source = sd_event_source_disable_unref(st->timer_source);
        st->pidfd = safe_close(st->pidfd);
        dnsmasq_unlink_record(d->env, st->bridge);
        *st = (DnsmasqStop){ .pidfd = -EBADF };

        if (conf && d->wanted)
                r = dnsmasq_child_spawn(d, conf);
        if (notify && d->env->on_idle)
                d->env->on_idle(d, r, d->env->userdata);
}

static int on_stop_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        /* sd-event reaps it when this returns. */
        dnsmasq_stop_end(userdata, true, true);
        return 0;
}

static int on_stop_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DnsmasqChild *d = userdata;
        siginfo_t si = {};

        if (d->stop.child)
                (void) waitid(P_PID, (id_t) d->stop.pid, &si, WEXITED | WNOHANG);
        dnsmasq_stop_end(d, true, true);
        return 0;
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        DnsmasqChild *d = userdata;
        DnsmasqStop *st = &d->stop;

        switch (st->stage) {
        case DNSMASQ_STOP_SIGTERM:
                log_warning("dnsmasq (pid %i) did not exit on SIGTERM; sending SIGKILL.", (int) st->pid);
                (void) kill(st->pid, SIGKILL);
                st->stage = DNSMASQ_STOP_SIGKILL;
                if (sd_event_source_set_time_relative(s, DNSMASQ_STOP_TIMEOUT_USEC) >= 0 &&
                    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) >= 0)
                        return 0;
                break;
        case DNSMASQ_STOP_SIGKILL:
                log_warning("dnsmasq (pid %i) did not exit on SIGKILL either; not waiting for it any more.",
                            (int) st->pid);
                break;
        case DNSMASQ_STOP_NONE:
        case _DNSMASQ_STOP_MAX:
        case _DNSMASQ_STOP_INVALID:
                return 0;
        }
        dnsmasq_stop_end(d, false, true);
        return 0;
}

/* Watches the exit: ours through a child source, else (or when that fails) through a pidfd.
 * 0 watched, 1 already gone, < 0 error. */
static int dnsmasq_stop_watch(DnsmasqChild *d) {
        DnsmasqStop *st = &d->stop;

        if (st->child &&
            sd_event_add_child(d->env->event, &st->exit_source, st->pid, WEXITED, on_stop_child_exit, d) >=
                            0)
                return 0;
        st->pidfd = (int) syscall(SYS_pidfd_open, st->pid, 0);
        if (st->pidfd < 0)
                return errno == ESRCH ? 1 : -errno;
        return sd_event_add_io(d->env->event, &st->exit_source, st->pidfd, EPOLLIN, on_stop_pidfd, d);
}

/* SIGTERM now, SIGKILL when the timer runs out; returns at once. */
static void dnsmasq_stop_begin(DnsmasqChild *d, pid_t pid, bool child) {
        DnsmasqStop *st = &d->stop;
        int r;

        if (dnsmasq_child_stopping(d)) {
                /* Cannot happen: nothing is spawned while a stop is under way. */
                (void) kill(pid, SIGKILL);
                return;
        }
        *st = (DnsmasqStop){ .stage = DNSMASQ_STOP_SIGTERM, .pid = pid, .child = child, .pidfd = -EBADF };
        (void) snprintf(st->bridge, sizeof(st->bridge), "%s", d->bridge);

        if (sd_event_get_state(d->env->event) == SD_EVENT_FINISHED) {
                /* The exit path: no sources any more; dnsmasq_child_finish_stop() waits. */
                if (kill(pid, SIGTERM) < 0 && errno == ESRCH)
                        dnsmasq_stop_end(d, true, false);
                return;
        }
        r = dnsmasq_stop_watch(d);
        if (r < 0) {
                log_warning_errno(r, "Cannot watch dnsmasq (pid %i) exit: %m; sending SIGKILL.", (int) pid);
                (void) kill(pid, SIGKILL);
        }
        if (r != 0 || (kill(pid, SIGTERM) < 0 && errno == ESRCH)) {
                dnsmasq_stop_end(d, r >= 0, false);
                return;
        }
        r = sd_event_add_time_relative(
                        d->env->event,
                        &st->timer_source,
                        CLOCK_MONOTONIC,
                        DNSMASQ_STOP_TIMEOUT_USEC,
                        0,
                        on_stop_timer,
                        d);
        if (r < 0) {
                log_warning_errno(
                                r,
                                "Cannot time the stop of dnsmasq (pid %i): %m; sending SIGKILL.",
                                (int) pid);
                (void) kill(pid, SIGKILL);
                st->stage = DNSMASQ_STOP_SIGKILL;
        }
}

void dnsmasq_child_finish_stop(DnsmasqChild *d) {
        DnsmasqStop *st = &d->stop;
        int r;

        if (!dnsmasq_child_stopping(d))
                return;
        /* The event loop is finished: this is the exit path, the one place that waits. Nothing new
         * is spawned any more, and the sources go first so that sd-event does not reap it. */
        d->start_config = mfree(d->start_config);
        st->exit_source = sd_event_source_disable_unref(st->exit_source);
        st->timer_source = sd_event_source_disable_unref(st->timer_source);

        r = wait_pid_exit(st->pid, DNSMASQ_STOP_TIMEOUT_MSEC);
        if (r == -ETIMEDOUT && st->stage == DNSMASQ_STOP_SIGTERM) {
                log_warning("dnsmasq (pid %i) did not exit on SIGTERM; sending SIGKILL.", (int) st->pid);
                (void) kill(st->pid, SIGKILL);
                r = wait_pid_exit(st->pid, DNSMASQ_STOP_TIMEOUT_MSEC);
        }
        if (r < 0)
                log_warning_errno(r, "dnsmasq (pid %i) did not exit: %m", (int) st->pid);
        else if (st->child)
                (void) waitpid(st->pid, NULL, WNOHANG);
        dnsmasq_stop_end(d, r >= 0, true);
}

void dnsmasq_child_done(DnsmasqChild *d) {
        dnsmasq_child_finish_stop(d);
        d->child_source = sd_event_source_disable_unref(d->child_source);
        d->restart_source = sd_event_source_disable_unref(d->restart_source);
        d->start_config = mfree(d->start_config);
}

/* A dnsmasq recorded by an earlier run of the daemon (it drops to another uid, which clears
 * PR_SET_PDEATHSIG, so it can outlive a crashed daemon). Only a process whose start time and
 * executable match the record is stopped. */
static void dnsmasq_kill_stale(DnsmasqChild *d) {
        _cleanup_free_ char *path = dnsmasq_pid_path(d->env, d->bridge), *rec = NULL, *target = NULL;
        unsigned long long st;
        uint64_t now_st;
        int pid;

        if (!path || read_one_line_file(path, &rec) < 0)
                return;
        (void) unlink(path);
        if (sscanf(rec, "%i %llu", &pid, &st) != 2 || pid <= 1)
                return;
        if (pid_get_starttime(pid, &now_st) < 0 || now_st != st)
                return;
        if (pid_get_exe(pid, &target) < 0)
                return;
        if (!strstr(target, "dnsmasq"))
                return;

        log_info("Stopping dnsmasq for %s left by an earlier run (pid %i).", d->bridge, pid);
        dnsmasq_stop_begin(d, pid, false);
}

void dnsmasq_child_attach(DnsmasqChild *d, const char *bridge) {
        (void) snprintf(d->bridge, sizeof(d->bridge), "%s", bridge);
        /* The record of a dnsmasq being stopped here is that one's. */
        if (!dnsmasq_child_stopping(d))
                dnsmasq_kill_stale(d);
        d->restarts = 0;
}

void dnsmasq_child_detach(DnsmasqChild *d) {
        _cleanup_free_ char *conf = NULL;

        dnsmasq_child_stop(d);
        if (dnsmasq_config_path(d->env->runtime_dir, d->bridge, &conf) >= 0)
                (void) unlink(conf);
        d->bridge[0] = 0;
}

static int on_dnsmasq_restart(sd_event_source *s, uint64_t usec, void *userdata) {
        DnsmasqChild *d = userdata;

        d->restart_source = sd_event_source_disable_unref(d->restart_source);
        if (!d->wanted || d->pid > 0)
                return 0;
        d->restarts++;
        (void) dnsmasq_child_start(d);
        return 0;
}

static void dnsmasq_schedule_restart(DnsmasqChild *d) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (d->started_usec > 0 && now - d->started_usec > DNSMASQ_STABLE_USEC)
                d->backoff_usec = DNSMASQ_BACKOFF_MIN_USEC;
        else
                d->backoff_usec = d->backoff_usec == 0 ? DNSMASQ_BACKOFF_MIN_USEC
                                                       : MIN(d->backoff_usec * 2, DNSMASQ_BACKOFF_MAX_USEC);

        d->restart_source = sd_event_source_disable_unref(d->restart_source);
        r = sd_event_add_time_relative(
                        d->env->event,
                        &d->restart_source,
                        CLOCK_MONOTONIC,
                        d->backoff_usec,
                        0,
                        on_dnsmasq_restart,
                        d);
        if (r < 0)
                log_error_errno(r, "Failed to schedule dnsmasq restart for %s: %m", d->bridge);
}

static int on_dnsmasq_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        DnsmasqChild *d = userdata;

        d->child_source = sd_event_source_disable_unref(d->child_source);
        d->pid = 0;
        dnsmasq_unlink_record(d->env, d->bridge);

        if (!d->wanted)
                return 0;

        dnsmasq_schedule_restart(d);
        log_warning("dnsmasq for %s %s %i; restarting in %llu ms.",
                    d->bridge,
                    si->si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
                    si->si_status,
                    (unsigned long long) (d->backoff_usec / USEC_PER_MSEC));
        return 0;
}

static int dnsmasq_child_spawn(DnsmasqChild *d, const char *conf) {
        DnsmasqEnv *env = d->env;
        pid_t pid;
        int r;

        r = dnsmasq_spawn(env->exe, conf, &pid);
        if (r < 0) {
                dnsmasq_schedule_restart(d);
                return log_error_errno(r, "Failed to start dnsmasq for %s: %m", d->bridge);
        }
        d->started_usec = now_usec(CLOCK_MONOTONIC);
        d->bridge_ifindex = (int) if_nametoindex(d->bridge);

        r = sd_event_add_child(env->event, &d->child_source, pid, WEXITED, on_dnsmasq_exit, d);
        if (r < 0) {
                dnsmasq_stop_begin(d, pid, true);
                return log_error_errno(r, "Failed to watch dnsmasq: %m");
        }
        d->pid = pid;
        dnsmasq_record(d);
        log_info("Started dnsmasq for %s (pid %i).", d->bridge, (int) d->pid);
        return 0;
}

int dnsmasq_child_start(DnsmasqChild *d) {
        DnsmasqEnv *env = d->env;
        _cleanup_free_ char *conf = NULL;
        BridgePlan bridges[NET_BRIDGES];
        const BridgePlan *b = NULL;
        int r;

        net_config_bridges(env->plan, bridges);
        for (size_t i = 0; i < NET_BRIDGES; i++)
                if (streq(bridges[i].name, d->bridge))
                        b = &bridges[i];
        if (!b || !b->managed)
                return -EINVAL;

        if (!env->exe) {
                r = dnsmasq_find(&env->exe);
                if (r < 0)
                        return log_error_errno(
                                        r,
                                        "dnsmasq not found (looked in /usr/sbin, /sbin, /usr/bin): "
                                        "install the dnsmasq-base (Debian) or dnsmasq (Fedora) package.");
        }

        r = dnsmasq_config_write(env->plan, b, env->runtime_dir, env->state_dir, &conf);
        if (r < 0)
                return log_error_errno(r, "Failed to write dnsmasq config for %s: %m", d->bridge);

        if (dnsmasq_child_stopping(d)) {
                /* The one on its way out still holds the address: spawned once it is gone. */
                free(d->start_config);
                d->start_config = TAKE_PTR(conf);
                return 1;
        }
        return dnsmasq_child_spawn(d, conf);
}

void dnsmasq_child_stop(DnsmasqChild *d) {
        pid_t pid = d->pid;

        d->wanted = false;
        d->start_config = mfree(d->start_config);
        d->restart_source = sd_event_source_disable_unref(d->restart_source);
        if (pid > 0) {
                /* From here on the stop watches its exit. */
                d->child_source = sd_event_source_disable_unref(d->child_source);
                d->pid = 0;
                dnsmasq_stop_begin(d, pid, true);
        } else if (!dnsmasq_child_stopping(d))
                dnsmasq_unlink_record(d->env, d->bridge);
}

void dnsmasq_child_restart(DnsmasqChild *d) {
        dnsmasq_child_stop(d);
        d->wanted = true;
        d->restarts++;
}
