/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* Polkit action ids (org.cuttlefish.hostresources.<action>). */
#define AUTH_ACTION_MANAGE_NETWORK "org.cuttlefish.hostresources.manage-network"

/* Decides whether the sender of message may perform action. Returns >0 allowed, 0 "will call
 * back" (the handler returns 1 and is re-dispatched when the answer arrives), <0 error (set in
 * error). This version allows root only; polkit (asynchronous CheckAuthorization with the
 * caller's bus name as subject) plugs in behind the same signature. */
int bus_verify_auth_async(Manager *m, sd_bus_message *message, const char *action, sd_bus_error *error);
