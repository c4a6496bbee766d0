/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct Instance Instance;

int bus_register_instances(Manager *m, sd_bus *bus);
void bus_emit_instance_changed(Instance *i);
/* >0 allowed (owner or root or polkit), 0 will call back, <0 error. */
int bus_verify_instance_access(Instance *i, sd_bus_message *message, sd_bus_error *error);
/* Shared by the Instance methods and the Manager's by-number variants. */
int bus_instance_stop(Instance *i, sd_bus_message *message, sd_bus_error *error);
int bus_instance_remove(Instance *i, sd_bus_message *message, sd_bus_error *error);
