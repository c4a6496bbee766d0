/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libnl, normalised: negative errno returns and a batch that sends many requests before
 * collecting their acknowledgements, so 400 taps cost one round of syscalls, not 400. */

#include <stddef.h>

#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "common/macro.h"

int errno_from_nl(int nlerr);

int nl_route_open(struct nl_sock **ret);

typedef struct NlBatchItem {
        struct nl_msg *msg;
        char *what; /* "create bridge cvd-ebr": names the step in errors */
        int error;  /* the kernel's answer, negative errno or 0 */
        uint32_t seq;
} NlBatchItem;

typedef struct NlBatch {
        struct nl_sock *sk; /* not owned */
        NlBatchItem *items;
        size_t n_items;
} NlBatch;

#define NL_BATCH_NULL(s) ((NlBatch){ .sk = (s) })

void nl_batch_done(NlBatch *b);
/* Takes ownership of msg, also on failure. */
int nl_batch_add(NlBatch *b, struct nl_msg *msg, const char *what_fmt, ...) _printf_(3, 4);
/* Sends everything, waits for every ack. Returns the number of requests that failed; each
 * failing item has ->error set. A negative return is a socket-level failure. */
int nl_batch_run(NlBatch *b);
/* The first failed item, or NULL. */
const NlBatchItem *nl_batch_first_error(const NlBatch *b);

DEFINE_CLEANUP(struct nl_sock *, nl_socket_free);
DEFINE_CLEANUP(struct nl_msg *, nlmsg_free);
DEFINE_CLEANUP(struct nl_cache *, nl_cache_free);
