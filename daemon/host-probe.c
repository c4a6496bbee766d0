/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json-util.h"

#include "daemon/host-probe.h"
#include "vmm/host.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "daemon/reap.h"
#include "common/macro.h"
#include "common/process-util.h"

#define HOST_PROBE_OUTPUT_MAX (256 * 1024)

int host_probe_new(Manager *m, HostProbe **ret) {
        HostProbe *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->manager = m;
        p->fd = -EBADF;
        *ret = p;
        return 0;
}

static void host_probe_stop_worker(HostProbe *p) {
        p->child_source = sd_event_source_disable_unref(p->child_source);
        p->timeout_source = sd_event_source_disable_unref(p->timeout_source);
        if (p->pid > 0) {
                (void) kill(p->pid, SIGKILL);
                /* Dead at once, but reaped by the loop, not waited for here. */
                if (reap_child_detached(p->manager->event, p->pid) < 0)
                        (void) waitpid(p->pid, NULL, WNOHANG);
                p->pid = 0;
        }
        p->fd = safe_close(p->fd);
}

static void host_probe_flush_waiters(HostProbe *p) {
        for (size_t i = 0; i < p->n_waiters; i++) {
                sd_bus_message *msg = p->waiters[i];
                int r;

                r = sd_bus_message_rewind(msg, true);
                if (r >= 0)
                        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(msg), msg);
                if (r < 0) {
                        log_error_errno(r, "Failed to replay a call waiting for the host probe: %m");
                        (void) sd_bus_reply_method_errno(msg, r, NULL);
                }
                sd_bus_message_unref(msg);
        }
        p->waiters = mfree(p->waiters);
        p->n_waiters = 0;
}

HostProbe *host_probe_free(HostProbe *p) {
        if (!p)
                return NULL;
        host_probe_stop_worker(p);
        for (size_t i = 0; i < p->n_waiters; i++)
                sd_bus_message_unref(p->waiters[i]);
        free(p->waiters);
        json_object_put(p->result);
        free(p->error);
        return mfree(p);
}

static void host_probe_finish(HostProbe *p, struct json_object *result, const char *error) {
        struct json_object *gpu = NULL, *kvm, *usable;

        json_object_put(p->result);
        p->result = result;
        free(p->error);
        p->error = error ? strdup(error) : NULL;
        p->done = true;

        if (!result || !json_object_object_get_ex(result, "gpu_modes", &gpu) ||
            gpu_probe_from_json(gpu, &p->gpu) < 0) {
                _cleanup_(json_object_putp) struct json_object *none = json_object_new_array();

                (void) gpu_probe_from_json(none, &p->gpu);
        }
        /* guest_swiftshader and none need nothing from the host, probe or not. */
        p->gpu.modes[GPU_MODE_GUEST_SWIFTSHADER].available = true;
        p->gpu.modes[GPU_MODE_NONE].available = true;

        if (result && json_object_object_get_ex(result, "kvm", &kvm) &&
            json_object_object_get_ex(kvm, "usable", &usable) && usable)
                manager_set_kvm_usable(p->manager, json_object_get_boolean(usable));

        if (error)
                log_warning("Host probe failed: %s. DescribeHost() shows no versions or GPU modes until "
                            "'cfctl reload'.",
                            error);
        else
                log_debug("Host probe done.");
        host_probe_flush_waiters(p);

        if (p->again) {
                p->again = false;
                (void) host_probe_start(p);
        }
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        HostProbe *p = userdata;
        _cleanup_free_ char *buf = NULL;
        struct json_object *result = NULL;
        size_t n = 0, allocated = 0;

        pid_t pid = p->pid;

        p->child_source = sd_event_source_disable_unref(p->child_source);
        p->timeout_source = sd_event_source_disable_unref(p->timeout_source);
        p->pid = 0;
        /* Reap it here: its source is gone, so sd-event may not. */
        (void) waitpid(pid, NULL, WNOHANG);

        /* The worker wrote everything before it exited; the pipe holds it. */
        for (;;) {
                ssize_t k;

                if (allocated - n < 4096) {
                        char *b;

                        if (allocated >= HOST_PROBE_OUTPUT_MAX)
                                break;
                        allocated = MAX(allocated * 2, (size_t) 16384);
                        b = realloc(buf, allocated);
                        if (!b)
                                break;
                        buf = b;
                }
                k = read(p->fd, buf + n, allocated - n - 1);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        p->fd = safe_close(p->fd);
        if (buf) {
                buf[n] = 0;
                result = json_tokener_parse(buf);
        }

        if (result)
                host_probe_finish(p, result, NULL);
        else if (si->si_code == CLD_EXITED)
                host_probe_finish(p, NULL, "the probe worker gave no result");
        else {
                char e[64];

                (void) snprintf(e,
                                sizeof(e),
                                "the probe worker died (SIG%s)",
                                sigabbrev_np(si->si_status) ?: "?");
                host_probe_finish(p, NULL, e);
        }
        return 0;
}

static int on_worker_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        HostProbe *p = userdata;

        host_probe_stop_worker(p);
        host_probe_finish(p, NULL, "the probe worker did not finish in time");
        return 0;
}

_noreturn_ static void worker_run(int fd) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        const char *s;
        size_t len;

        if (host_probe_run(&o) < 0)
                _exit(EXIT_FAILURE);
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        len = strlen(s);
        while (len > 0) {
                ssize_t k = write(fd, s, len);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        _exit(EXIT_FAILURE);
                s += k;
                len -= (size_t) k;
        }
        _exit(EXIT_SUCCESS);
}

int host_probe_start(HostProbe *p) {
        int fds[2], r;
        pid_t pid;

        if (p->pid > 0) {
                p->again = true;
                return 0;
        }
        /* Wide enough for the whole answer, so the worker never waits for us to read. */
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return log_error_errno(-errno, "Failed to create the host probe pipe: %m");
        (void) fcntl(fds[1], F_SETPIPE_SZ, HOST_PROBE_OUTPUT_MAX);

        /* Only the pipe: a worker (or a probe child of it) still running when the daemon is
         * SIGKILLed must not hold the runtime dir's lock and keep the next daemon out. The
         * daemon's blocked signals are not the probes' business. */
        r =
                        safe_fork_full("host probe",
                                       FORK_DEATHSIG_SIGKILL | FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS,
                                       NULL,
                                       &fds[1],
                                       1,
                                       &pid);
        if (r < 0) {
                safe_close(fds[0]);
                safe_close(fds[1]);
                return log_error_errno(r, "Failed to start the host probe: %m");
        }
        if (r == 0) {
                (void) fcntl(fds[1], F_SETFL, 0); /* blocking writes in the worker */
                worker_run(fds[1]);
        }
        safe_close(fds[1]);
        p->pid = pid;
        p->fd = fds[0];

        r = sd_event_add_child(p->manager->event, &p->child_source, pid, WEXITED, on_worker_exit, p);
        if (r >= 0)
                r = sd_event_add_time_relative(
                                p->manager->event,
                                &p->timeout_source,
                                CLOCK_MONOTONIC,
                                HOST_PROBE_TIMEOUT_USEC,
                                0,
                                on_worker_timeout,
                                p);
        if (r < 0) {
                host_probe_stop_worker(p);
                return log_error_errno(r, "Failed to watch the host probe: %m");
        }
        log_debug("Host probe started (pid %i).", (int) pid);
        return 0;
}

int host_probe_wait(HostProbe *p, sd_bus_message *message) {
        sd_bus_message **l;

        if (p->n_waiters >= HOST_PROBE_WAITERS_MAX)
                return -ENOBUFS;
        /* Nothing running would ever answer: start it. */
        if (p->pid <= 0) {
                int r = host_probe_start(p);
                if (r < 0)
                        return r;
        }
        l = reallocarray(p->waiters, p->n_waiters + 1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        p->waiters = l;
        p->waiters[p->n_waiters++] = sd_bus_message_ref(message);
        return 0;
}
