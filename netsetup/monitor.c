/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/errno.h>
#include <netlink/socket.h>

#include "common/macro.h"
#include "netsetup/monitor.h"
#include "netsetup/nl.h"

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

int net_monitor_drain(NetMonitor *m) {
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
                        if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK ||
                            h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR)
                                relevant = true;
        }
        return relevant;
}
