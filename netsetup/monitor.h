/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Link and address change notifications (RTNLGRP_LINK, IPv4/IPv6 IFADDR), for drift repair. */

#include <stdbool.h>

typedef struct NetMonitor NetMonitor;

int net_monitor_new(NetMonitor **ret);
NetMonitor *net_monitor_free(NetMonitor *m);
int net_monitor_fd(NetMonitor *m);
/* Whether a change to the link named name matters (NULL: every change does). */
typedef bool (*NetLinkFilter)(const char *name, void *userdata);

/* Reads what is queued. Returns 1 if anything may concern our links, 0 if not; -ENOBUFS
 * (overrun) is reported as 1, since a full resync is the answer to a lost event. Never relevant:
 * bridge-port and IPv6 per-link notices, links in the recycle group (taps given back) and
 * their addresses, IPv6 link-local addresses, and changes (not deletions) of links filter says do not
 * matter. */
int net_monitor_drain(NetMonitor *m, NetLinkFilter filter, void *userdata);
