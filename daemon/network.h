/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host network as one object: applies the plan (links, sysctls, nftables), runs one dnsmasq
 * per managed bridge (daemon/network-dnsmasq.h), repairs drift on link events, and tears all of
 * it down again. It knows no Manager: the event loop, the directories and a change callback come
 * in at network_new(), busy slots through network_set_slot_busy(). */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "common/macro.h"
#include "daemon/network-dnsmasq.h"
#include "netsetup/plan.h"

typedef struct Network Network;
struct nl_sock;
struct json_object;
typedef struct NetMonitor NetMonitor;
typedef struct HostIssues HostIssues;

typedef enum NetworkState {
        NETWORK_DOWN,
        NETWORK_CONFIGURING,
        NETWORK_UP,
        NETWORK_DEGRADED,
        NETWORK_FAILED,
        _NETWORK_STATE_MAX,
        _NETWORK_STATE_INVALID = -EINVAL,
} NetworkState;

/* What a change under way waits for before its end state: dnsmasq children being stopped. */
typedef enum NetworkOp {
        NETWORK_OP_NONE,
        NETWORK_OP_SETUP,
        NETWORK_OP_RECONCILE,
        NETWORK_OP_TEARDOWN,
        _NETWORK_OP_MAX,
        _NETWORK_OP_INVALID = -EINVAL,
} NetworkOp;

/* NetworkState (or what DescribeNetwork() shows) changed. */
typedef void (*NetworkChangedFn)(Network *n, void *userdata);
/* A change has ended: r < 0 and error (may be NULL) when it failed. */
typedef void (*NetworkDoneFn)(int r, const char *error, void *userdata);

typedef struct NetworkWaiter {
        NetworkDoneFn done;
        void *userdata;
} NetworkWaiter;

struct Network {
        sd_event *event;
        char *runtime_dir;
        char *state_dir;
        NetworkChangedFn on_changed;
        void *userdata;

        NetworkState state;
        NetConfig applied; /* what the kernel was last made to match */
        bool have_applied;
        bool busy_slots[NET_SLOTS_MAX + 1]; /* held by an instance: kept even past num_cvd_accounts */
        struct nl_sock *nl;
        NetMonitor *monitor;
        sd_event_source *monitor_source;
        sd_event_source *reconcile_source;
        bool refill;       /* the queued reconcile recreates taps an instance gave back: not drift */
        bool drift_queued; /* a full reconcile was asked for (link events, nft gone, slots past N) */
        sd_event_source *recycle_timer;  /* taps recycled: deleted together, a second later */
        sd_event_source *recycle_source; /* the child deleting recycled taps */
        bool recycle_again;              /* more were recycled while it ran */
        sd_event_source *periodic_source;
        DnsmasqEnv dnsmasq_env;
        DnsmasqChild dnsmasq[NET_BRIDGES];
        char *error;             /* why the last apply failed */
        char **conflicts;        /* names held by links that are not ours */
        unsigned repairs;        /* drift repairs since start */
        bool bridge_filter_drop; /* bridge rules use "drop": nftables lacks "meta broute" */
        gid_t tap_group;

        /* A change whose end state waits for dnsmasq stops to end (network-dnsmasq.h). */
        NetworkOp pending;
        int pending_error;      /* a dnsmasq start that failed meanwhile */
        bool reconcile_after;   /* link events came while it waited */
        NetworkWaiter *waiters; /* told when it ends */
        size_t n_waiters;
};

const char *network_state_to_string(NetworkState s);

int network_new(sd_event *event,
                const char *runtime_dir,
                const char *state_dir,
                NetworkChangedFn on_changed,
                void *userdata,
                Network **ret);
/* The exit path only: a dnsmasq stop still under way is waited for (bounded, see
 * dnsmasq_child_finish_stop()); running dnsmasq children stay. */
Network *network_free(Network *n);
DEFINE_CLEANUP(Network *, network_free);

/* The Manager says which slots its instances hold. */
void network_set_slot_busy(Network *n, unsigned slot, bool busy);

/* Brings the network to the plan of c (also used for Reload). On failure the error is in n->error
 * and the state is "failed". 0 done; 1 the end state waits for dnsmasq stops to end (the state
 * stays "configuring"; network_call_when_done() tells when). */
int network_setup(Network *n, const NetConfig *c);
/* The same return values: dnsmasq children are sent SIGTERM, and "down" comes once they are gone. */
int network_teardown(Network *n);
/* Down, or on its way there (a teardown waiting for dnsmasq stops): a reload leaves it so. */
bool network_is_down(const Network *n);
/* The exit path only (the event loop is finished): network_teardown(), then a bounded wait for the
 * dnsmasq children to be gone, so the state is final when this returns. */
int network_teardown_at_exit(Network *n);
/* While a change waits for dnsmasq stops: done is called when it ends (1). Else 0, done is not
 * called. When the Network is freed first, done gets -ECANCELED. */
int network_call_when_done(Network *n, NetworkDoneFn done, void *userdata);

/* Re-applies the plan soon (coalesced). */
void network_queue_reconcile(Network *n);
/* The same, to recreate taps deleted on purpose (an instance gave its slot back). */
void network_queue_refill(Network *n);
/* The taps a queued refill would create are created now, and nothing else (the queued reconcile
 * still runs): a slot given back is usable at once (CreateInstance right after RemoveInstance). */
void network_flush_refill(Network *n);
/* Gives taps back to the pool: renamed into the recycle group now and deleted by a child, created
 * afresh by the refill. */
gid_t network_tap_group(const Network *n);
int network_recycle_taps(Network *n, char *const *names, size_t n_names);
/* Host conditions that break guests' networking without failing a step (netsetup/probe.h):
 * overlapping routes, forward-drop chains of other tables, NetworkManager on cvd-*. configured:
 * the plan to check before one was applied. */
int network_host_issues(Network *n, const NetConfig *configured, HostIssues *l);
/* Builds the DescribeNetwork() JSON (daemon/network-describe.h); configured as above. */
int network_describe(Network *n, const NetConfig *configured, struct json_object **ret);
