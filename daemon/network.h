/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host network as one object: applies the plan (links, sysctls, nftables), runs one dnsmasq
 * per managed bridge, repairs drift on link events, and tears all of it down again. */

#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "netsetup/plan.h"

typedef struct Manager Manager;
typedef struct Network Network;
struct nl_sock;
struct json_object;
typedef struct NetMonitor NetMonitor;

typedef enum NetworkState {
        NETWORK_DOWN,
        NETWORK_CONFIGURING,
        NETWORK_UP,
        NETWORK_DEGRADED,
        NETWORK_FAILED,
        _NETWORK_STATE_MAX,
        _NETWORK_STATE_INVALID = -EINVAL,
} NetworkState;

typedef struct DnsmasqChild {
        Network *network;
        char bridge[IFNAMSIZ];
        bool wanted;
        pid_t pid;
        int bridge_ifindex;     /* of the bridge it was started on; a new bridge needs a new dnsmasq */
        sd_event_source *child_source;
        sd_event_source *restart_source;
        unsigned restarts;
        uint64_t backoff_usec;
        uint64_t started_usec;
} DnsmasqChild;

struct Network {
        Manager *manager;
        NetworkState state;
        NetConfig applied;      /* what the kernel was last made to match */
        bool have_applied;
        struct nl_sock *nl;
        NetMonitor *monitor;
        sd_event_source *monitor_source;
        sd_event_source *reconcile_source;
        bool refill; /* the queued reconcile recreates taps an instance gave back: not drift */
        sd_event_source *periodic_source;
        DnsmasqChild dnsmasq[NET_BRIDGES];
        char *dnsmasq_exe;
        char *error;            /* why the last apply failed */
        char **conflicts;       /* names held by links that are not ours */
        unsigned repairs;       /* drift repairs since start */
        bool bridge_filter_drop; /* bridge rules use "drop": nftables lacks "meta broute" */
        gid_t tap_group;
};

const char *network_state_to_string(NetworkState s);

int network_new(Manager *m, Network **ret);
Network *network_free(Network *n);

/* Brings the network to the plan of c (also used for Reload). On failure the error is in
 * n->error and the state is "failed". */
int network_setup(Network *n, const NetConfig *c);
int network_teardown(Network *n);
/* Re-applies the plan soon (coalesced). */
void network_queue_reconcile(Network *n);
/* The same, to recreate taps deleted on purpose (an instance gave its slot back). */
void network_queue_refill(Network *n);
/* A refill still queued runs now: a slot given back is usable at once (CreateInstance right
 * after RemoveInstance). */
void network_flush_refill(Network *n);
/* Gives taps back to the pool: moved to the recycle group now, deleted and created afresh by the
 * refill. */
gid_t network_tap_group(const Network *n);
int network_recycle_taps(Network *n, char *const *names, size_t n_names);
/* Host conditions that break guests' networking without failing a step (netsetup/probe.h):
 * overlapping routes, forward-drop chains of other tables, NetworkManager on cvd-*. */
typedef struct HostIssues HostIssues;
int network_host_issues(Network *n, HostIssues *l);
/* Builds the DescribeNetwork() JSON. */
int network_describe(Network *n, struct json_object **ret);
