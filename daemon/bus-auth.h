/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include <systemd/sd-event.h>

typedef struct AuthQuery AuthQuery;

/* The calls waiting for polkit, owned by the Manager and touched only here. */
typedef struct AuthRegistry {
        sd_event *event; /* not owned */
        AuthQuery *queries;
        unsigned n_queries;
} AuthRegistry;

void auth_registry_init(AuthRegistry *a, sd_event *event);
/* Drops pending queries (daemon shutdown). */
void auth_registry_done(AuthRegistry *a);

/* Polkit action ids (org.cuttlefish.hostresources.<action>), shipped in
 * dbus/org.cuttlefish.hostresources.policy. */
#define AUTH_ACTION_CREATE_INSTANCE "org.cuttlefish.hostresources.create-instance"
#define AUTH_ACTION_MANAGE_INSTANCES "org.cuttlefish.hostresources.manage-instances"
#define AUTH_ACTION_MANAGE_NETWORK "org.cuttlefish.hostresources.manage-network"

/* Group whose members may create instances when polkit is absent (and by the shipped rules). */

/* Calls waiting for polkit (or for the replay of its answer). Per caller, that is per unique bus
 * name (one connection), so that one connection cannot starve the others; and in all, a safety
 * net for the daemon's memory. Past either, a call fails with LimitsExceeded. The bus may refuse
 * earlier: dbus-daemon lets one connection wait for at most 128 replies by default
 * (max_replies_per_connection), and its refusal is passed on as LimitsExceeded too. */
#define AUTH_QUERIES_PER_CALLER_MAX 32
#define AUTH_QUERIES_MAX 256

/* Decides whether the sender of message may perform action. Returns >0 allowed, 0 "asked
 * polkit, will call back": the method handler returns 1 and is dispatched again with the same
 * message once the answer is in; <0 error, with error set (AccessDenied,
 * InteractiveAuthorizationRequired, ...).
 *
 * Root is always allowed. Otherwise polkit decides, asked asynchronously with the caller's bus
 * name as subject ("system-bus-name"), honouring the message's allow-interactive-authorization
 * flag. Without polkit on the bus: create-instance for members of cvdnetwork, the rest for root
 * only. Identity always comes from the bus credentials, never from arguments. A caller with
 * AUTH_QUERIES_PER_CALLER_MAX calls already waiting, or any caller once AUTH_QUERIES_MAX wait in
 * all, gets LimitsExceeded.
 *
 * details: NULL or a NULL-terminated list of key, value pairs handed to polkit rules. */
int bus_verify_auth_async(
                AuthRegistry *a,
                sd_bus_message *message,
                const char *action,
                const char *const *details,
                sd_bus_error *error);

/* The caller's effective uid, from the bus credentials. */
int bus_sender_euid(sd_bus_message *message, uid_t *ret);
