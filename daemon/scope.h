/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A systemd transient scope for one process (where systemd runs the host it owns the cgroup tree,
 * so the VMM goes into a scope of its own, not into a directory we make). Knows no Instance: the
 * caller learns through a callback whether the process is in its scope. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct Scope Scope;
/* in_scope false: systemd refused or did not move the process in time (why says what happened). */
typedef void (*scope_ready_t)(Scope *s, bool in_scope, const char *why, void *userdata);

/* Asks systemd for scope name (…".scope") holding pid, in machine.slice, with these limits.
 * ready is called exactly once, never from inside this call, unless scope_free() comes first. */
int scope_start(sd_bus *bus,
                sd_event *event,
                const char *name,
                const char *description,
                pid_t pid,
                uint64_t memory_max,
                uint64_t tasks_max,
                scope_ready_t ready,
                void *userdata,
                Scope **ret);
/* Cancels what is in flight; the callback is not called. */
Scope *scope_free(Scope *s);

/* Every process of the unit gets sig (asynchronously; systemd does the killing). */
int scope_kill(sd_bus *bus, const char *name, int sig);
