/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* dnsmasq for one managed bridge, supervised from the event loop: started again with a back-off
 * when it dies, recorded in a pid file so that a later run can stop one a crashed daemon left, and
 * stopped without blocking: SIGTERM, SIGKILL when a timer runs out, the exit seen by a child (or
 * pidfd) source. A new dnsmasq for the bridge is spawned only once the old one is gone: both bind
 * the same address. */

#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "netsetup/plan.h"

typedef struct DnsmasqChild DnsmasqChild;

/* A stop is over (the process is gone, or given up on) and the start that waited for it, if any,
 * was tried: r is that start's result, 0 when none was due. */
typedef void (*DnsmasqIdleFn)(DnsmasqChild *d, int r, void *userdata);

/* What the supervisors of one network share. The directories and the plan belong to the owner. */
typedef struct DnsmasqEnv {
        sd_event *event;
        const char *runtime_dir; /* config and pid files */
        const char *state_dir;   /* lease files */
        const NetConfig *plan;   /* the applied plan: the bridges and what their dnsmasq serves */
        char *exe;               /* found at the first start; owned */
        DnsmasqIdleFn on_idle;   /* may be NULL */
        void *userdata;
} DnsmasqEnv;

typedef enum DnsmasqStopStage {
        DNSMASQ_STOP_NONE,
        DNSMASQ_STOP_SIGTERM,
        DNSMASQ_STOP_SIGKILL,
        _DNSMASQ_STOP_MAX,
        _DNSMASQ_STOP_INVALID = -EINVAL,
} DnsmasqStopStage;

/* A dnsmasq on its way out: ours, or one an earlier run of the daemon left. */
typedef struct DnsmasqStop {
        DnsmasqStopStage stage;
        pid_t pid;
        char bridge[IFNAMSIZ];         /* whose pid file goes when it is gone */
        bool child;                    /* ours: reaped here */
        int pidfd;                     /* when no child source watches it */
        sd_event_source *exit_source;  /* child source, or I/O on pidfd */
        sd_event_source *timer_source; /* SIGKILL, then giving up */
} DnsmasqStop;

struct DnsmasqChild {
        DnsmasqEnv *env;
        char bridge[IFNAMSIZ];
        bool wanted;
        pid_t pid;
        int bridge_ifindex; /* of the bridge it was started on; a new bridge needs a new dnsmasq */
        sd_event_source *child_source;
        sd_event_source *restart_source;
        unsigned restarts;
        uint64_t backoff_usec;
        uint64_t started_usec;
        DnsmasqStop stop;
        char *start_config; /* a start waiting for the stop to end: the config file it wrote */
};

void dnsmasq_child_init(DnsmasqChild *d, DnsmasqEnv *env);
/* Drops the event sources; a running dnsmasq stays (its pid file lets a later run stop it). A stop
 * under way is finished first (dnsmasq_child_finish_stop()): the exit path only calls this. */
void dnsmasq_child_done(DnsmasqChild *d);

/* Serves bridge from now on; a dnsmasq an earlier run left for it is stopped first. */
void dnsmasq_child_attach(DnsmasqChild *d, const char *bridge);
/* Stops it, removes its config file and forgets the bridge. */
void dnsmasq_child_detach(DnsmasqChild *d);

/* Writes the config and spawns dnsmasq: 0 spawned, 1 spawned once the stop under way ends (then
 * env->on_idle reports the result), < 0 error (logged). A failed spawn is retried with the
 * back-off. */
int dnsmasq_child_start(DnsmasqChild *d);
/* Not wanted any more: begins the stop (SIGTERM now, SIGKILL later) and returns at once. */
void dnsmasq_child_stop(DnsmasqChild *d);
/* A fresh dnsmasq (a changed config, a recreated bridge): the stop, and a start still wanted. */
void dnsmasq_child_restart(DnsmasqChild *d);
/* The exit path only (the event loop is finished): waits for a stop under way to end, at most
 * DNSMASQ_STOP_TIMEOUT_MSEC per signal. The one blocking wait of the network code. */
void dnsmasq_child_finish_stop(DnsmasqChild *d);

static inline bool dnsmasq_child_stopping(const DnsmasqChild *d) {
        return d->stop.stage != DNSMASQ_STOP_NONE;
}
