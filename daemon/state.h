/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* state.json (DESIGN.md §7): one record per instance, written atomically on each transition and
 * read back at start so running VMMs are re-adopted. Plain records in, plain records out: this
 * module knows no Manager and no Instance, looks at no process and allocates nothing in the
 * daemon. One field table (state.c) drives both the writer and the parser, so no key is written
 * that is not read back, nor read that is not written. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/spec.h"

#define STATE_VERSION 1
#define STATE_GROUPS_MAX 65536            /* NGROUPS_MAX */
#define STATE_FILE_MAX (16 * 1024 * 1024) /* bytes; read_full_file() reads no more either */

typedef struct StateRecord {
        unsigned number; /* 1..NET_SLOTS_MAX, unique in a file */
        uid_t owner;
        gid_t gid;
        gid_t *groups;
        size_t n_groups;
        /* Persisted: everything but .number (the record's own) and .start. */
        InstanceSpec spec;
        /* InstanceState and InstanceReason by name (instance_state_to_string()), NULL when
         * absent: which names exist is the daemon's business, an unknown one is not an error. */
        char *state;
        char *reason;
        bool booted;
        pid_t pid; /* 0: no VMM was running */
        uint64_t starttime;
        char *exe;
        char *scope; /* the VMM's systemd scope, or NULL */
        uint64_t created, started, console_start;
        unsigned restart_count;
} StateRecord;

void state_record_done(StateRecord *r);
void state_records_free(StateRecord *r, size_t n);

/* The file's text for these records (records are only read: they may borrow their strings). */
int state_format(const StateRecord *records, size_t n, char **ret);

/* state_format() written to path atomically (a temporary file, fsync, rename), mode 0600; with no
 * records the file is removed instead. Logs its failures. */
int state_save(const char *path, const StateRecord *records, size_t n);

/* The whole file. Returns the number of malformed records that were left out (>= 0), with the
 * others in *ret and *ret_n; when some were left out *ret_error says which and why, naming the
 * record and the key (the first few of them). Malformed: not an object, a key of the wrong type,
 * a number out of range, an unknown backend or restart policy, no "number", a number already
 * used by an earlier record, a spec beyond the CreateInstance limits. Unknown keys are ignored, a
 * null value is an absent key. The file itself can fail: -EFBIG (more than STATE_FILE_MAX bytes),
 * -EBADMSG (not JSON, no "instances" array, a version other than STATE_VERSION), with *ret_error
 * saying why; -ENOMEM. ret_error may be NULL. */
int state_parse(const char *text, StateRecord **ret, size_t *ret_n, char **ret_error);

/* Renames an unreadable state file to PATH.bad-<UTC time> (kept for a post-mortem); the new name
 * in *ret_aside. */
int state_keep_bad(const char *path, char **ret_aside);
