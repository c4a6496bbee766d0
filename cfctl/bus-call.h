/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* cfctl's one way to call the service: one timeout, and one mapping from a D-Bus error to the line
 * the user sees (the exit code is 1 for every failed call). */

#include <json-c/json.h>

#include <systemd/sd-bus.h>

#include "common/time-util.h"

/* For every call: the daemon waits up to 5 minutes for polkit, that is someone typing a password. */
#define BUS_CALL_TIMEOUT_USEC (330 * USEC_PER_SEC)

typedef enum BusCallFlags {
        /* polkit may ask for a password: interactive authorization is allowed (unless
         * --no-ask-password was given). */
        BUS_CALL_MAY_AUTHORIZE = 1 << 0,
} BusCallFlags;

/* One method call: the object, and what the user is told when it fails. */
typedef struct BusCall {
        unsigned instance;     /* 0: the Manager; N: instance N ("No instance N" when it is unknown) */
        const char *interface; /* NULL: the object's own (Manager or Instance) */
        const char *method;
        const char *what; /* "Failed to WHAT: ..." */
        BusCallFlags flags;
} BusCall;

/* A call to fill in with bus_call_send(). Logs its failure. */
int bus_call_new(sd_bus *bus, const BusCall *c, sd_bus_message **ret);
/* Sends m and waits for the reply (ret_reply may be NULL). Logs a failure once, as
 * bus_call_log_error(); returns a negative errno. */
int bus_call_send(sd_bus *bus, const BusCall *c, sd_bus_message *m, sd_bus_message **ret_reply);
/* The two in one, with arguments as sd_bus_message_append() takes them (types NULL: none). */
int bus_call(sd_bus *bus, const BusCall *c, sd_bus_message **ret_reply, const char *types, ...);
/* A Manager method without arguments that answers with one JSON string, parsed. */
int bus_call_json(sd_bus *bus, const char *method, const char *what, struct json_object **ret);

/* The one error mapping: "the service is not running" for a missing service, "No instance N" for
 * an unknown instance object, else "Failed to WHAT: <the error's message>". Returns r (-ENOENT for
 * an unknown instance). */
int bus_call_log_error(const BusCall *c, int r, const sd_bus_error *error);
