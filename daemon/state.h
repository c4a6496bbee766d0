/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One instance record of state.json, parsed and checked but not acted on: no process is looked
 * at, nothing is allocated in the Manager. manager_load_state() (orphans.c) applies the records. */

#include <stdint.h>
#include <sys/types.h>

#include "daemon/instance.h"
#include "vmm/spec.h"

struct json_object;

#define STATE_GROUPS_MAX 65536 /* NGROUPS_MAX */

typedef struct StateRecord {
        unsigned number;
        uid_t owner;
        gid_t gid;
        gid_t *groups;
        size_t n_groups;
        InstanceSpec spec;
        InstanceState state;
        InstanceReason reason;
        pid_t pid; /* 0: no VMM was running */
        uint64_t starttime;
        char *exe;
        char *scope; /* the VMM's systemd scope, or NULL */
        uint64_t created, started, console_start;
        unsigned restart_count;
} StateRecord;

void state_record_done(StateRecord *r);
/* -EINVAL with *ret_error naming the field when o is not a record the daemon could have written
 * (wrong types, numbers out of range, a spec beyond the CreateInstance limits); -ENOMEM. */
int state_record_parse(struct json_object *o, StateRecord *ret, char **ret_error);
/* The whole file: the records in "instances", each parsed as above; a bad record is skipped and
 * counted in *ret_skipped. -EBADMSG: not JSON, or no "instances" array. */
int state_parse(const char *text, StateRecord **ret, size_t *ret_n, size_t *ret_skipped);
void state_records_free(StateRecord *r, size_t n);
