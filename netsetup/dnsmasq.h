/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* dnsmasq for one managed bridge: a generated 0600 config file equivalent to the reference's
 * command line, a foreground child, and the lease file it keeps in the state dir. */

#include <stdint.h>
#include <sys/types.h>

#include "netsetup/plan.h"

typedef struct DnsmasqLease {
        uint64_t expires; /* seconds since the epoch, 0 = infinite */
        uint8_t mac[6];
        char ip[INET6_ADDRSTRLEN];
        char hostname[64];
} DnsmasqLease;

/* File names, under runtime dir (config) and state dir (leases). */
int dnsmasq_config_path(const char *runtime_dir, const char *bridge, char **ret);
int dnsmasq_lease_path(const char *state_dir, const char *bridge, char **ret);

int dnsmasq_config_build(const NetConfig *c, const BridgePlan *b, const char *lease_path, char **ret);
int dnsmasq_config_write(
                const NetConfig *c,
                const BridgePlan *b,
                const char *runtime_dir,
                const char *state_dir,
                char **ret_config_path);

/* Finds the dnsmasq executable: $CF_DNSMASQ, else /usr/sbin, /sbin, /usr/bin. */
int dnsmasq_find(char **ret);
/* Forks and execs "dnsmasq --keep-in-foreground --conf-file=PATH"; the child dies with us. */
int dnsmasq_spawn(const char *exe, const char *config_path, pid_t *ret);

int dnsmasq_leases_parse(const char *contents, DnsmasqLease **ret, size_t *ret_n);
int dnsmasq_leases_read(const char *path, DnsmasqLease **ret, size_t *ret_n);
