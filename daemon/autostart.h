/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Instances with Autostart=true that do not run when the daemon starts (after a host reboot, they
 * come back stopped from their definitions) are started once the network is up, in slot order,
 * at most autostart_parallel at a time: the next starts when one leaves "starting". Once per
 * daemon start. */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "netsetup/plan.h"

typedef struct Manager Manager;
typedef struct Instance Instance;

typedef struct Autostart {
        bool begun;
        bool queued[NET_SLOTS_MAX + 1];
        unsigned inflight;
        sd_event_source *defer;
} Autostart;

void autostart_done(Autostart *a);
/* The network changed state: the first time it is up, the queue is made and started. */
void autostart_network_changed(Manager *m);
/* i changed (or is going away): one started by us that left "starting" makes room for the next. */
void autostart_instance_changed(Manager *m, Instance *i);
void autostart_instance_gone(Manager *m, Instance *i);
