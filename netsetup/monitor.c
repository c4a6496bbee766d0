/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/errno.h>
#include <netlink/socket.h>

#include "common/macro.h"
#include "netsetup/monitor.h"
#include "netsetup/nl.h"
#include "netsetup/plan.h"

struct NetMonitor {
        struct nl_sock *sk;
};

NetMonitor *net_monitor_free(NetMonitor *m) {
        if (!m)
                return NULL;
        nl_socket_free(m->sk);
        return mfree(m);
}
DEFINE_CLEANUP(NetMonitor *, net_monitor_free);

int net_monitor_new(NetMonitor **ret) {
        _cleanup_(net_monitor_freep) NetMonitor *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->sk = nl_socket_alloc();
        if (!m->sk)
                return -ENOMEM;
        nl_socket_disable_seq_check(m->sk);
        r = nl_connect(m->sk, NETLINK_ROUTE);
        if (r < 0)
                return errno_from_nl(r);
        r = nl_socket_add_memberships(m->sk, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, 0);
        if (r < 0)
                return errno_from_nl(r);
        r = nl_socket_set_nonblocking(m->sk);
        if (r < 0)
                return errno_from_nl(r);
        (void) nl_socket_set_buffer_size(m->sk, 1024 * 1024, 0);

        *ret = TAKE_PTR(m);
        return 0;
}

int net_monitor_fd(NetMonitor *m) {
        return nl_socket_get_fd(m->sk);
}

/* IFLA_GROUP and IFLA_IFNAME of a link message (group UINT32_MAX, name NULL when absent). */
static void link_attrs(const struct nlmsghdr *h, uint32_t *ret_group, const char **ret_name) {
        const struct ifinfomsg *ifi = NLMSG_DATA(h);
        int len = (int) h->nlmsg_len - (int) NLMSG_LENGTH(sizeof(*ifi));

        *ret_group = UINT32_MAX;
        *ret_name = NULL;
        for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
                if (a->rta_type == IFLA_GROUP && RTA_PAYLOAD(a) >= sizeof(uint32_t))
                        memcpy(ret_group, RTA_DATA(a), sizeof(uint32_t));
                else if (a->rta_type == IFLA_IFNAME && RTA_PAYLOAD(a) > 0 &&
                         memchr(RTA_DATA(a), 0, RTA_PAYLOAD(a)))
                        *ret_name = RTA_DATA(a);
}

/* "cvd-r<ifindex>": a tap given back, renamed aside until it is deleted (links_recycle()). */
static bool recycled_name(const char *name) {
        return name && strncmp(name, "cvd-r", 5) == 0 && name[5] &&
                        strspn(name + 5, "0123456789") == strlen(name + 5);
}

/* IFA_LABEL of an IPv4 address message (the link's name, renamed with it), or NULL. */
static const char *addr_label(const struct nlmsghdr *h) {
        const struct ifaddrmsg *ifa = NLMSG_DATA(h);
        int len = (int) h->nlmsg_len - (int) NLMSG_LENGTH(sizeof(*ifa));

        for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len))
                if (a->rta_type == IFA_LABEL && RTA_PAYLOAD(a) > 0 && memchr(RTA_DATA(a), 0, RTA_PAYLOAD(a)))
                        return RTA_DATA(a);
        return NULL;
}

/* What a reconcile could have to repair. */
static bool event_relevant(const struct nlmsghdr *h, NetLinkFilter filter, void *userdata) {
        switch (h->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK: {
                const struct ifinfomsg *ifi = NLMSG_DATA(h);
                const char *name;
                uint32_t group;

                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
                        return true;
                /* AF_BRIDGE: a port's STP state; AF_INET6: its addrconf state. The link itself is
                 * told of with AF_UNSPEC. */
                if (ifi->ifi_family != AF_UNSPEC)
                        return false;
                link_attrs(h, &group, &name);
                if (group == NET_NETDEV_GROUP_RECYCLE)
                        return false;
                if (h->nlmsg_type == RTM_DELLINK)
                        return true;
                /* (A carrier change comes with ifi_change 0, as most changes: the name decides.) */
                return !filter || !name || filter(name, userdata);
        }
        case RTM_NEWADDR:
        case RTM_DELADDR: {
                const struct ifaddrmsg *ifa = NLMSG_DATA(h);

                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
                        return true;
                if (ifa->ifa_family == AF_INET6 && ifa->ifa_scope == RT_SCOPE_LINK)
                        return false;
                /* The address of a tap given back goes with it. */
                return !(ifa->ifa_family == AF_INET && recycled_name(addr_label(h)));
        }
        default:
                return false;
        }
}

int net_monitor_drain(NetMonitor *m, NetLinkFilter filter, void *userdata) {
        bool relevant = false;

        for (;;) {
                _cleanup_free_ unsigned char *buf = NULL;
                struct sockaddr_nl peer;
                int n;

                n = nl_recv(m->sk, &peer, &buf, NULL);
                if (n == -NLE_AGAIN || n == 0)
                        break;
                if (n == -NLE_NOMEM || n == -NLE_MSG_OVERFLOW) /* overrun: resync */
                        return 1;
                if (n < 0)
                        return errno_from_nl(n);

                for (struct nlmsghdr *h = (struct nlmsghdr *) buf; nlmsg_ok(h, n); h = nlmsg_next(h, &n))
                        if (event_relevant(h, filter, userdata))
                                relevant = true;
        }
        return relevant;
}
