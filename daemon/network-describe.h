/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* DescribeNetwork()'s JSON as a pure function of what the caller gathered: the plan, the state,
 * the kernel's links, each dnsmasq's status and the leases read from its file. No I/O here. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon/network.h"
#include "netsetup/dnsmasq.h"
#include "netsetup/links.h"
#include "netsetup/plan.h"

struct json_object;

typedef struct NetworkDescribeDnsmasq {
        pid_t pid; /* 0: not running */
        unsigned restarts;
        const char *config_file; /* NULL: unknown */
        const char *lease_file;  /* NULL: unknown */
        const DnsmasqLease *leases;
        size_t n_leases;
} NetworkDescribeDnsmasq;

typedef struct NetworkDescribeInput {
        NetworkState state;
        const char *error;       /* why the last apply failed, or NULL */
        const NetConfig *config; /* the applied plan, else the configured one */
        bool nft_table_present;
        const LinkTable *links; /* the kernel's links; NULL when they could not be read */
        bool bridge_filter_drop;
        unsigned repairs;
        char **conflicts;                            /* NULL or a strv */
        NetworkDescribeDnsmasq dnsmasq[NET_BRIDGES]; /* by bridge index; only managed ones are read */
} NetworkDescribeInput;

int network_describe_build(const NetworkDescribeInput *in, struct json_object **ret);
