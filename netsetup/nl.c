/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#include <netlink/errno.h>
#include <netlink/socket.h>

#include "netsetup/nl.h"

/* Requests in flight before we drain acknowledgements; keeps the receive buffer far from full. */
#define NL_BATCH_WINDOW 128

int errno_from_nl(int nlerr) {
        switch (abs(nlerr)) {
        case 0:
                return 0;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_OBJ_NOTFOUND:
                return -ENOENT;
        case NLE_NODEV:
                return -ENODEV;
        case NLE_PERM:
        case NLE_NOACCESS:
                return -EPERM;
        case NLE_BUSY:
                return -EBUSY;
        case NLE_INVAL:
        case NLE_RANGE:
                return -EINVAL;
        case NLE_AGAIN:
                return -EAGAIN;
        case NLE_OPNOTSUPP:
                return -EOPNOTSUPP;
        case NLE_AF_NOSUPPORT:
                return -EAFNOSUPPORT;
        case NLE_NOADDR:
                return -EADDRNOTAVAIL;
        default:
                return -EIO;
        }
}

int nl_route_open(struct nl_sock **ret) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        int r;

        sk = nl_socket_alloc();
        if (!sk)
                return -ENOMEM;

        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return errno_from_nl(r);

        /* The batch reads acks itself, so libnl's own sequence bookkeeping would be wrong. */
        nl_socket_disable_seq_check(sk);
        (void) nl_socket_set_buffer_size(sk, 4 * 1024 * 1024, 1024 * 1024);
        /* Error replies quote only the header of the failed request, not all of it. */
        (void) setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &(int){ 1 }, sizeof(int));

        *ret = TAKE_PTR(sk);
        return 0;
}

void nl_batch_done(NlBatch *b) {
        for (size_t i = 0; i < b->n_items; i++) {
                nlmsg_free(b->items[i].msg);
                free(b->items[i].what);
        }
        b->items = mfree(b->items);
        b->n_items = 0;
}

int nl_batch_add(NlBatch *b, struct nl_msg *msg, const char *what_fmt, ...) {
        NlBatchItem *items;
        va_list ap;
        char *what;
        int r;

        va_start(ap, what_fmt);
        r = vasprintf(&what, what_fmt, ap);
        va_end(ap);
        if (r < 0) {
                nlmsg_free(msg);
                return -ENOMEM;
        }

        items = reallocarray(b->items, b->n_items + 1, sizeof(NlBatchItem));
        if (!items) {
                nlmsg_free(msg);
                free(what);
                return -ENOMEM;
        }
        b->items = items;
        b->items[b->n_items++] = (NlBatchItem){ .msg = msg, .what = what };
        return 0;
}

static NlBatchItem *batch_find_seq(NlBatch *b, size_t from, size_t to, uint32_t seq) {
        for (size_t i = from; i < to; i++)
                if (b->items[i].seq == seq)
                        return &b->items[i];
        return NULL;
}

static int batch_collect(NlBatch *b, size_t from, size_t to) {
        size_t pending = to - from;

        while (pending > 0) {
                _cleanup_free_ unsigned char *buf = NULL;
                struct sockaddr_nl peer;
                struct nlmsghdr *h;
                int n;

                n = nl_recv(b->sk, &peer, &buf, NULL);
                if (n < 0)
                        return errno_from_nl(n);
                if (n == 0)
                        return -EIO;

                for (h = (struct nlmsghdr *) buf; nlmsg_ok(h, n); h = nlmsg_next(h, &n)) {
                        const struct nlmsgerr *e;
                        NlBatchItem *item;

                        if (h->nlmsg_type != NLMSG_ERROR)
                                continue;
                        e = nlmsg_data(h);
                        item = batch_find_seq(b, from, to, h->nlmsg_seq);
                        if (!item)
                                continue;
                        item->error = e->error;
                        pending--;
                }
        }
        return 0;
}

int nl_batch_run(NlBatch *b) {
        int failed = 0, r;

        for (size_t from = 0; from < b->n_items; from += NL_BATCH_WINDOW) {
                size_t to = MIN(from + NL_BATCH_WINDOW, b->n_items);

                for (size_t i = from; i < to; i++) {
                        struct nl_msg *msg = b->items[i].msg;

                        nl_complete_msg(b->sk, msg);
                        nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
                        b->items[i].seq = nlmsg_hdr(msg)->nlmsg_seq;
                        r = nl_send(b->sk, msg);
                        if (r < 0)
                                return errno_from_nl(r);
                }

                r = batch_collect(b, from, to);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < b->n_items; i++)
                if (b->items[i].error < 0)
                        failed++;
        return failed;
}

const NlBatchItem *nl_batch_first_error(const NlBatch *b) {
        for (size_t i = 0; i < b->n_items; i++)
                if (b->items[i].error < 0)
                        return &b->items[i];
        return NULL;
}
