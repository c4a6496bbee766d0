/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct Instance Instance;

int bus_register_instances(Manager *m, sd_bus *bus);
void instance_bus_emit_changed(Instance *i);
/* >0 allowed (owner or root or polkit), 0 will call back, <0 error. */
int bus_verify_instance_access(Instance *i, sd_bus_message *message, sd_bus_error *error);
/* Shared by the Instance methods and the Manager's by-number variants. */
int bus_instance_stop(Instance *i, sd_bus_message *message, sd_bus_error *error);
int bus_instance_remove(Instance *i, sd_bus_message *message, sd_bus_error *error);

/* Deferred replies, written here and nowhere else. */
/* CreateInstance()/Start(): error NULL, the VMM exec'd. Returns true when a CreateInstance()
 * failed (the instance is to be removed). */
bool instance_bus_send_start_reply(Instance *i, const char *error);
/* Remove(): error_name NULL, removed. */
void instance_bus_send_remove_reply(Instance *i, const char *error_name, const char *text);
/* The instance is being freed: whatever is still pending is answered. */
void instance_bus_cancel_replies(Instance *i);
