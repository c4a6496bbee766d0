/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Bridges, persistent TAPs, enslaving and addresses, reconciled against the kernel: a dump,
 * a diff, then batched netlink requests for exactly the difference. Every link created here
 * carries NET_NETDEV_GROUP, so teardown is one bulk delete that never touches another link. */

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include <netlink/netlink.h>

#include "netsetup/plan.h"

typedef struct LinkInfo {
        char name[IFNAMSIZ];
        char kind[16]; /* "bridge", "tun", "veth", ... or "" */
        int ifindex;
        int master;
        uint32_t group;
        unsigned flags;
} LinkInfo;

typedef struct AddrInfo {
        int ifindex;
        int family;
        unsigned char addr[16];
        unsigned prefixlen;
        int scope;
} AddrInfo;

/* What the kernel has now. */
typedef struct LinkTable {
        LinkInfo *links;
        size_t n_links;
        AddrInfo *addrs;
        size_t n_addrs;
} LinkTable;

void link_table_done(LinkTable *t);
int link_table_load(struct nl_sock *sk, LinkTable *ret);
const LinkInfo *link_table_find(const LinkTable *t, const char *name);
const LinkInfo *link_table_find_index(const LinkTable *t, int ifindex);
bool link_table_has_addr(const LinkTable *t, int ifindex, int family, const void *addr, unsigned prefixlen);
size_t link_table_count_group(const LinkTable *t, uint32_t group);

typedef struct LinkReport {
        unsigned created;   /* links created */
        unsigned deleted;   /* links of ours removed (stale slots, wrong kind) */
        unsigned modified;  /* links re-enslaved, re-grouped or set up */
        unsigned addresses; /* addresses added or removed */
        char **changes;     /* one line per change, for the log */
        char **conflicts;   /* a name we need is held by a link that is not ours */
} LinkReport;

void link_report_done(LinkReport *r);
static inline unsigned link_report_total(const LinkReport *r) {
        return r->created + r->deleted + r->modified + r->addresses;
}

/* Makes the kernel match the plan for c. Slots above c->n_slots that are in keep_slots (busy
 * slots, 1-based, may be NULL) are kept. On failure ret_error names the step. */
int links_apply(struct nl_sock *sk,
                const NetConfig *c,
                gid_t tap_group,
                const bool *keep_slots,
                LinkReport *report,
                char **ret_error);

/* Removes every link in our netdev group, with their addresses: one request. */
int links_teardown(struct nl_sock *sk, char **ret_error);
/* Taps an instance gives back: taken down, off their bridge and renamed cvd-r<ifindex> into netdev
 * group NET_NETDEV_GROUP_RECYCLE now (cheap: no unregistering), so that links_apply() can create
 * taps of their names afresh at once; links_delete_recycled() deletes them whenever it suits, one
 * request per link (each waits for the network stack under the kernel's rtnl lock, which others'
 * requests get between two). A tap's owner cannot be unset, so this is how it returns to the pool. */
int links_recycle(struct nl_sock *sk, char *const *names, size_t n_names);
int links_delete_recycled(struct nl_sock *sk, char **ret_error);
