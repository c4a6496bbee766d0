/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host conditions that break the plan without making any step fail: a route that already claims
 * one of our subnets, another table's forward chain that drops what ours accepts, NetworkManager
 * managing cvd-* links. Each is an issue with the exact command that fixes it. Reads only: the
 * kernel (rtnetlink dump, nftables listing) and configuration files. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include <netlink/netlink.h>

#include "common/macro.h"
#include "netsetup/plan.h"

typedef struct HostIssue {
        char *check;  /* "route-overlap", "forward-drop", "networkmanager", ... */
        bool problem; /* false: a note (works, with a limitation) */
        char *detail;
        char *fix; /* a command; may be NULL */
} HostIssue;

typedef struct HostIssues {
        HostIssue *items;
        size_t n;
} HostIssues;

void host_issues_done(HostIssues *l);
int host_issues_add(
                HostIssues *l, const char *check, bool problem, const char *fix, const char *detail_fmt, ...)
                _printf_(5, 6);

/* Do a/alen and b/blen share an address? */
bool ipv4_prefixes_overlap(struct in_addr a, unsigned alen, struct in_addr b, unsigned blen);

/* IPv4 routes (any table; unicast, blackhole, unreachable, prohibit; not the default route) that
 * are not on a link of our netdev group and overlap a subnet of the plan: a managed bridge's /24
 * or a tap's /30. One "route-overlap" problem per route. Returns how many were found. */
int probe_route_overlaps(struct nl_sock *sk, const NetConfig *c, HostIssues *l);

/* Base chains on the forward hook with policy drop in tables other than ours (firewalld, UFW,
 * Docker's iptables-nft "filter FORWARD", ...) that have no rule naming a cvd-* link: they drop
 * forwarded guest traffic whatever our table accepts. One "forward-drop" problem per chain, with a
 * fix for that table's tool. Returns how many were found. */
int probe_forward_drop(HostIssues *l);

/* 1 if the text of a NetworkManager configuration file has, in [keyfile], unmanaged-devices (=
 * or +=) entries that cover every cvd-* name (interface-name:cvd-* or a wider glob); 0 if not. */
int nm_conf_covers_cvd(const char *text);
/* NetworkManager runs (or ran since boot: /run/NetworkManager exists) and no configuration file
 * (NetworkManager.conf, conf.d in /usr/lib, /run and /etc) keeps it off cvd-*: a
 * "networkmanager" problem. Returns 1 when found. */
int probe_network_manager(HostIssues *l);
