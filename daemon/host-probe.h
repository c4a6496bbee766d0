/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The slow host facts (each VMM's version, the GPU modes, whether KVM works) come from a worker
 * process, started when the daemon starts and again on Reload, so the event loop never waits for
 * a program to answer or for virglrenderer to crash. The last result is kept for DescribeHost()
 * and CreateInstance's gpu_mode; calls that need it before the first result wait (they are
 * dispatched again when it arrives). */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/time-util.h"
#include "vmm/gpu.h"

typedef struct Manager Manager;
struct json_object;

#define HOST_PROBE_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define HOST_PROBE_WAITERS_MAX 64

typedef struct HostProbe {
        Manager *manager;
        pid_t pid; /* the worker, 0 when none runs */
        int fd;    /* read end of its output */
        sd_event_source *child_source;
        sd_event_source *timeout_source;
        bool again;                 /* asked to probe again while a worker ran */
        bool done;                  /* a result (or failure) is in */
        struct json_object *result; /* host_probe_run()'s JSON; NULL if the worker failed */
        char *error;                /* why the worker failed */
        GpuProbe gpu;
        sd_bus_message **waiters;
        size_t n_waiters;
} HostProbe;

int host_probe_new(Manager *m, HostProbe **ret);
HostProbe *host_probe_free(HostProbe *p);

/* Starts a worker, or, while one runs, makes it run once more after it ends. */
int host_probe_start(HostProbe *p);
/* Keeps message to dispatch again once a result is in. 0: queued (the handler returns 1);
 * -ENOBUFS: too many calls are waiting. */
int host_probe_wait(HostProbe *p, sd_bus_message *message);
