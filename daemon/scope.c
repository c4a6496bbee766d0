/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/time-util.h"
#include "daemon/scope.h"

/* StartTransientUnit returns when the job is queued; the move follows. */
#define SCOPE_CHECK_USEC (5 * USEC_PER_MSEC)
#define SCOPE_CHECKS_MAX 200
#define SCOPE_CALL_TIMEOUT_USEC (5 * USEC_PER_SEC)

struct Scope {
        sd_event *event;
        char *name;
        pid_t pid;
        sd_bus_slot *slot;
        sd_event_source *check_source;
        unsigned checks;
        scope_ready_t ready;
        void *userdata;
};

Scope *scope_free(Scope *s) {
        if (!s)
                return NULL;
        sd_bus_slot_unref(s->slot);
        sd_event_source_disable_unref(s->check_source);
        sd_event_unref(s->event);
        free(s->name);
        return mfree(s);
}

static void scope_done(Scope *s, bool in_scope, const char *why) {
        scope_ready_t ready = TAKE_PTR(s->ready);

        s->slot = sd_bus_slot_unref(s->slot);
        s->check_source = sd_event_source_disable_unref(s->check_source);
        if (ready)
                ready(s, in_scope, why, s->userdata);
}

static bool pid_in_scope(pid_t pid, const char *scope) {
        _cleanup_free_ char *path = NULL, *text = NULL;

        if (asprintf(&path, "/proc/%i/cgroup", (int) pid) < 0 || read_full_file(path, &text, NULL) < 0)
                return false;
        return strstr(text, scope) != NULL;
}

static int on_check(sd_event_source *source, uint64_t usec, void *userdata) {
        Scope *s = userdata;

        s->check_source = sd_event_source_disable_unref(s->check_source);
        if (pid_in_scope(s->pid, s->name)) {
                scope_done(s, true, NULL);
                return 0;
        }
        if (++s->checks >= SCOPE_CHECKS_MAX) {
                scope_done(s, false, "systemd did not move the process into it within 1 s");
                return 0;
        }
        if (sd_event_add_time_relative(
                            s->event,
                            &s->check_source,
                            CLOCK_MONOTONIC,
                            SCOPE_CHECK_USEC,
                            USEC_PER_MSEC,
                            on_check,
                            s) < 0)
                scope_done(s, false, "cannot wait for systemd");
        return 0;
}

static int on_started(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        Scope *s = userdata;

        s->slot = sd_bus_slot_unref(s->slot);
        if (e) {
                _cleanup_free_ char *why = NULL;

                (void) asprintf(&why, "systemd did not create it (%s)", e->message ?: e->name);
                scope_done(s, false, why ?: e->name);
                return 0;
        }
        s->checks = 0;
        return on_check(NULL, 0, s);
}

static int scope_message(
                sd_bus *bus,
                const char *name,
                const char *description,
                pid_t pid,
                uint64_t memory_max,
                uint64_t tasks_max,
                sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(
                        bus,
                        &m,
                        "org.freedesktop.systemd1",
                        "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager",
                        "StartTransientUnit");
        if (r < 0)
                return r;
        /* clang-format off */
        r = sd_bus_message_append(m, "ssa(sv)a(sa(sv))",
                        name, "fail",
                        6,
                        "Description", "s", description,
                        "PIDs", "au", 1, (uint32_t) pid,
                        "Slice", "s", "machine.slice",
                        "MemoryMax", "t", memory_max,
                        "TasksMax", "t", tasks_max,
                        "CollectMode", "s", "inactive-or-failed",
                        0);
        /* clang-format on */
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int scope_start(sd_bus *bus,
                sd_event *event,
                const char *name,
                const char *description,
                pid_t pid,
                uint64_t memory_max,
                uint64_t tasks_max,
                scope_ready_t ready,
                void *userdata,
                Scope **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Scope *s;
        int r;

        r = scope_message(bus, name, description, pid, memory_max, tasks_max, &m);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (Scope){ .event = sd_event_ref(event), .pid = pid, .ready = ready, .userdata = userdata };
        s->name = strdup(name);
        if (!s->name) {
                scope_free(s);
                return -ENOMEM;
        }
        r = sd_bus_call_async(bus, &s->slot, m, on_started, s, SCOPE_CALL_TIMEOUT_USEC);
        if (r < 0) {
                scope_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int scope_kill(sd_bus *bus, const char *name, int sig) {
        return sd_bus_call_method_async(
                        bus,
                        NULL,
                        "org.freedesktop.systemd1",
                        "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager",
                        "KillUnit",
                        NULL,
                        NULL,
                        "ssi",
                        name,
                        "all",
                        sig);
}
