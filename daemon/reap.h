/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Empties one cgroup leaf of ours in the event loop: kill rounds (vmm/cgroup.c) until no task is
 * left, bounded. On cgroup2 the leaf's cgroup.events says when it is empty; cgroup v1 has no such
 * event, so there a timer with an explicit accuracy checks again. The leaf is removed once empty.
 * A Reap belongs to whoever started it; its callback may free it. */

#include <stdint.h>

#include <systemd/sd-event.h>

#include "common/macro.h"
#include "vmm/cgroup.h"

typedef struct Reap Reap;

/* result: 0 the leaf is empty and removed; -ETIMEDOUT tasks are left (leftovers names them, as
 * cgroup_pids_describe() does); another negative errno: the leaf could not be read. */
typedef void (*ReapDone)(Reap *r, int result, const char *leftovers, void *userdata);

#define REAP_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* 0: the leaf was empty (and is removed now), nothing started, *ret = NULL. 1: started; done is
 * called later, never from inside reap_start(). */
int reap_start(sd_event *e,
               const CgroupLayout *l,
               const char *leaf,
               uint64_t timeout_usec,
               ReapDone done,
               void *userdata,
               Reap **ret);
Reap *reap_free(Reap *r);
DEFINE_CLEANUP(Reap *, reap_free);

/* Is the leaf empty now (in every hierarchy)? Errors count as not empty. */
bool reap_leaf_empty(const CgroupLayout *l, const char *leaf);

/* A child of ours that was SIGKILLed and is no longer anyone's business: reaped whenever it exits,
 * by a floating child source, without blocking the event loop. */
int reap_child_detached(sd_event *e, pid_t pid);
