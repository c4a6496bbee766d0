/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* NAT and forwarding in tables owned by the service ("inet cuttlefish_host_resources", and a
 * "bridge" table of the same name only for bridge_interface with ipv4_bridge=0/ipv6_bridge=0),
 * replaced atomically in one libnftables transaction. */

#include <stdbool.h>

#include "netsetup/plan.h"

/* The nft script for c; exposed for tests. broute: use "meta broute" (nftables >= 1.0.8) for
 * bridge_interface with ipv4_bridge=0/ipv6_bridge=0, else an equivalent drop. */
int nft_build_ruleset(const NetConfig *c, bool broute, char **ret);
/* Returns 0, or 1 when bridge rules had to use the drop fallback (no "meta broute"). */
int nft_apply(const NetConfig *c, char **ret_error);
int nft_remove(char **ret_error);
/* 1 if our inet table exists, 0 if not. */
int nft_table_present(void);
/* Number of rules in our tables (for tests and DescribeNetwork), or negative errno. */
int nft_count_rules(void);
