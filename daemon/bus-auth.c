/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/bus-auth.h"
#include "common/constants.h"
#include "common/log.h"
#include "common/macro.h"
#include "daemon/manager.h"
#include "common/time-util.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"

typedef enum AuthVerdict {
        AUTH_PENDING,
        AUTH_ALLOWED,
        AUTH_DENIED,
        AUTH_CHALLENGE, /* polkit would ask for a password, but the caller disallowed it */
        AUTH_NO_POLKIT, /* polkit is not on the bus: fallback rules apply */
        AUTH_BUSY,      /* the bus refused the check: too many replies outstanding */
        AUTH_FAILED,
} AuthVerdict;

struct AuthQuery {
        AuthRegistry *registry;
        AuthQuery *next;
        sd_bus_message *request; /* the method call, replayed when the answer arrives */
        char *action;
        sd_bus_slot *slot;
        sd_event_source *expire_source; /* frees a verdict the replayed call never picked up */
        AuthVerdict verdict;
        bool interactive; /* the caller allowed a password prompt */
        char *failure;    /* AUTH_FAILED, AUTH_BUSY: what went wrong */
};

static AuthQuery *auth_query_free(AuthQuery *q) {
        if (!q)
                return NULL;
        sd_bus_slot_unref(q->slot);
        sd_event_source_disable_unref(q->expire_source);
        sd_bus_message_unref(q->request);
        free(q->action);
        free(q->failure);
        return mfree(q);
}

static void auth_query_unlink(AuthQuery *q) {
        for (AuthQuery **p = &q->registry->queries; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        q->registry->n_queries--;
                        return;
                }
}

void auth_registry_init(AuthRegistry *a, sd_event *event) {
        *a = (AuthRegistry){ .event = event };
}

void auth_registry_done(AuthRegistry *a) {
        while (a->queries) {
                AuthQuery *q = a->queries;
                auth_query_unlink(q);
                auth_query_free(q);
        }
}

static AuthQuery *auth_query_find(AuthRegistry *a, sd_bus_message *request, const char *action) {
        for (AuthQuery *q = a->queries; q; q = q->next)
                if (q->request == request && streq(q->action, action))
                        return q;
        return NULL;
}

/* The queries of one caller (unique bus name): the list holds at most AUTH_QUERIES_MAX. */
static unsigned auth_queries_of(AuthRegistry *a, const char *sender) {
        unsigned n = 0;

        for (AuthQuery *q = a->queries; q; q = q->next)
                if (streq_ptr(sd_bus_message_get_sender(q->request), sender))
                        n++;
        return n;
}

/* A replayed handler may return before asking again (a quota or a missing instance found on
 * the second pass): then nobody consumes the verdict, and it must not pile up. */
#define AUTH_VERDICT_TTL_USEC (30 * USEC_PER_SEC)

static int on_verdict_expired(sd_event_source *s, uint64_t usec, void *userdata) {
        AuthQuery *q = userdata;

        auth_query_unlink(q);
        auth_query_free(q);
        return 0;
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        const sd_bus_error *e;
        int authorized, challenge, r;

        q->slot = sd_bus_slot_unref(q->slot);

        e = sd_bus_message_get_error(reply);
        if (e) {
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        q->verdict = AUTH_NO_POLKIT;
                else if (sd_bus_error_has_name(e, SD_BUS_ERROR_LIMITS_EXCEEDED)) {
                        /* dbus-daemon's max_replies_per_connection, say: not polkit's "no". */
                        q->verdict = AUTH_BUSY;
                        q->failure = strdup(e->message ?: e->name);
                } else {
                        q->verdict = AUTH_FAILED;
                        q->failure = strdup(e->message ?: e->name);
                }
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0) {
                        q->verdict = AUTH_FAILED;
                        q->failure = strdup("malformed answer from polkit");
                } else
                        q->verdict = authorized ? AUTH_ALLOWED : challenge ? AUTH_CHALLENGE : AUTH_DENIED;
        }

        (void) sd_event_add_time_relative(
                        q->registry->event,
                        &q->expire_source,
                        CLOCK_MONOTONIC,
                        AUTH_VERDICT_TTL_USEC,
                        0,
                        on_verdict_expired,
                        q);

        /* Dispatch the original call again; its handler finds this verdict. */
        r = sd_bus_message_rewind(q->request, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0) {
                log_error_errno(r, "Failed to replay the call waiting for authorization: %m");
                (void) sd_bus_reply_method_errno(q->request, r, NULL);
                auth_query_unlink(q);
                auth_query_free(q);
        }
        return 1;
}

/* Membership as polkit's isInGroup() sees it (the user database), plus whatever groups the bus
 * reports for the connection. */
static int caller_in_group(sd_bus_creds *creds, gid_t gid) {
        const gid_t *groups;
        struct passwd *pw;
        gid_t egid, list[256];
        int n = (int) ELEMENTSOF(list);
        uid_t uid;

        if (sd_bus_creds_get_egid(creds, &egid) >= 0 && egid == gid)
                return 1;
        n = sd_bus_creds_get_supplementary_gids(creds, &groups);
        for (int i = 0; i < n; i++)
                if (groups[i] == gid)
                        return 1;

        if (sd_bus_creds_get_euid(creds, &uid) < 0)
                return 0;
        pw = getpwuid(uid);
        n = (int) ELEMENTSOF(list);
        if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, list, &n) < 0)
                return 0;
        for (int i = 0; i < n; i++)
                if (list[i] == gid)
                        return 1;
        return 0;
}

/* Without polkit: creating instances for cvdnetwork members, nothing else for non-root. */
static int fallback_verdict(sd_bus_message *message, const char *action, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        struct group *g;
        int r;

        if (streq(action, AUTH_ACTION_CREATE_INSTANCE)) {
                g = getgrnam(CF_GROUP);
                r = sd_bus_query_sender_creds(
                                message,
                                SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS,
                                &creds);
                if (r < 0)
                        return r;
                if (g && caller_in_group(creds, g->gr_gid) > 0)
                        return 1;
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_ACCESS_DENIED,
                                "Creating instances needs membership in group '%s' (polkit is not running). "
                                "Ask an administrator: usermod -aG %s $USER, then log in again.",
                                CF_GROUP,
                                CF_GROUP);
        }
        return sd_bus_error_setf(
                        error,
                        SD_BUS_ERROR_ACCESS_DENIED,
                        "Not allowed: %s needs root while polkit is not running. Run the command with sudo.",
                        action);
}

static int verdict_to_result(AuthQuery *q, sd_bus_message *message, sd_bus_error *error) {
        switch (q->verdict) {
        case AUTH_ALLOWED:
                return 1;
        case AUTH_DENIED:
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_ACCESS_DENIED,
                                "Not authorized by polkit for %s. Ask an administrator to grant it "
                                "(see cuttlefish-host-resourcesd(8), AUTHORIZATION).",
                                q->action);
        case AUTH_CHALLENGE:
                /* Interaction was allowed, yet polkit still only offers a challenge: no agent
                 * answered. That is a refusal; without the flag the caller may retry with it. */
                if (q->interactive)
                        return sd_bus_error_setf(
                                        error,
                                        SD_BUS_ERROR_ACCESS_DENIED,
                                        "%s needs authentication and no authentication agent answered. "
                                        "Run it with sudo, or ask an administrator for a polkit rule.",
                                        q->action);
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                "%s needs authentication. Run it from a terminal without "
                                "--no-ask-password, or with sudo.",
                                q->action);
        case AUTH_NO_POLKIT:
                return fallback_verdict(message, q->action, error);
        case AUTH_BUSY:
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_LIMITS_EXCEEDED,
                                "The bus refused to pass another authorization request on to polkit (%s). "
                                "Wait for the requests already waiting to finish, then try again.",
                                strempty(q->failure));
        case AUTH_FAILED:
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_ACCESS_DENIED,
                                "Authorization check failed: %s.",
                                strempty(q->failure));
        case AUTH_PENDING:
                break;
        }
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Authorization still pending.");
}

static int polkit_check_async(AuthQuery *q, const char *const *details, bool interactive) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        sd_bus *bus = sd_bus_message_get_bus(q->request);
        const char *sender = sd_bus_message_get_sender(q->request);
        int r;

        if (!sender)
                return -EBADMSG;

        r = sd_bus_message_new_method_call(
                        bus, &call, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE, "CheckAuthorization");
        if (r < 0)
                return r;
        /* Subject: the caller's unique bus name; polkit resolves its credentials itself. */
        r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender, q->action);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(call, 'a', "{ss}");
        if (r < 0)
                return r;
        for (const char *const *d = details; d && d[0] && d[1]; d += 2) {
                r = sd_bus_message_append(call, "{ss}", d[0], d[1]);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(call);
        if (r < 0)
                return r;
        r = sd_bus_message_append(call, "us", (uint32_t) (interactive ? 1 : 0), "");
        if (r < 0)
                return r;

        /* An interactive check may wait for a person typing a password. */
        return sd_bus_call_async(
                        bus, &q->slot, call, on_polkit_reply, q, interactive ? UINT64_C(300000000) : 0);
}

int bus_sender_euid(sd_bus_message *message, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        /* Identity from the bus (the kernel's SO_PEERCRED via the broker), never from arguments. */
        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        return sd_bus_creds_get_euid(creds, ret);
}

/* LimitsExceeded for a caller with AUTH_QUERIES_PER_CALLER_MAX calls waiting, or for anyone once
 * AUTH_QUERIES_MAX wait in all. */
static int auth_check_limits(
                AuthRegistry *a, const char *sender, uid_t euid, const char *action, sd_bus_error *error) {
        /* Per caller first: one connection must not use up what every caller shares. */
        if (sender && auth_queries_of(a, sender) >= AUTH_QUERIES_PER_CALLER_MAX) {
                log_debug("Refused authorization of uid %u (%s) for %s: %u requests already waiting",
                          (unsigned) euid,
                          sender,
                          action,
                          AUTH_QUERIES_PER_CALLER_MAX);
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_LIMITS_EXCEEDED,
                                "You have %u authorization requests waiting for polkit, the most one "
                                "connection may have. Wait for them to finish, then try again.",
                                AUTH_QUERIES_PER_CALLER_MAX);
        }
        if (a->n_queries >= AUTH_QUERIES_MAX) {
                log_debug("Refused authorization of uid %u (%s) for %s: %u requests already waiting in all",
                          (unsigned) euid,
                          strempty(sender),
                          action,
                          AUTH_QUERIES_MAX);
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_LIMITS_EXCEEDED,
                                "%u authorization requests from all callers are waiting for polkit, the most "
                                "this daemon takes at once. Try again in a few seconds.",
                                AUTH_QUERIES_MAX);
        }
        return 0;
}

int bus_verify_auth_async(
                AuthRegistry *a,
                sd_bus_message *message,
                const char *action,
                const char *const *details,
                sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(message);
        AuthQuery *q;
        uid_t euid;
        int r;

        r = bus_sender_euid(message, &euid);
        if (r < 0)
                return r;
        if (euid == 0)
                return 1;

        q = auth_query_find(a, message, action);
        if (q) {
                if (q->verdict == AUTH_PENDING)
                        return 0;
                auth_query_unlink(q);
                r = verdict_to_result(q, message, error);
                log_full(r > 0 ? LOG_DEBUG : LOG_NOTICE,
                         "Authorization of uid %u for %s: %s",
                         (unsigned) euid,
                         action,
                         r > 0 ? "granted" : "denied");
                auth_query_free(q);
                return r;
        }

        r = auth_check_limits(a, sender, euid, action, error);
        if (r < 0)
                return r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (AuthQuery){
                .registry = a,
                .request = sd_bus_message_ref(message),
                .action = strdup(action),
                .verdict = AUTH_PENDING,
        };
        if (!q->action) {
                auth_query_free(q);
                return -ENOMEM;
        }

        q->interactive = sd_bus_message_get_allow_interactive_authorization(message) > 0;
        r = polkit_check_async(q, details, q->interactive);
        if (r < 0) {
                auth_query_free(q);
                return r;
        }
        q->next = a->queries;
        a->queries = q;
        a->n_queries++;
        return 0;
}
