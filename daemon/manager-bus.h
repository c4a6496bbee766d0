/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Manager's bus face: its vtable and handlers, the connection, object registration, and every
 * signal the Manager sends (InstanceNew/InstanceRemoved, InstanceCount, NetworkState, Slots). */

#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct Instance Instance;

int manager_connect_bus(Manager *m);
int bus_register_objects(Manager *m, sd_bus *bus);

void manager_bus_emit_instance_new(Manager *m, Instance *i);
void manager_bus_emit_instance_removed(Manager *m, Instance *i);
void manager_bus_emit_instance_count(Manager *m);
/* NetworkState or Slots changed (called by the Network through the Manager). */
void manager_network_changed(Manager *m);
