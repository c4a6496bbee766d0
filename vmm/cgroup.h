/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's cgroups, parent side: one subtree of ours (CgroupLayout.parent) under every
 * hierarchy we use, and one leaf per instance in it ("instance-N"). Everything a VMM starts stays
 * in its leaf, so the leaf is how a whole tree is found and killed, on every layout:
 *
 *   cgroup2 (pure, or the controller-less unified/ of a hybrid host): cgroup.kill;
 *   cgroup v1 with the freezer: freeze, SIGKILL every task, thaw;
 *   cgroup v1 without it: SIGKILL every task through a pidfd taken and checked against the leaf,
 *   in rounds until none is left.
 *
 * The child side (joining a leaf) is in sandbox.c; the leaves are made here, by root, before the
 * fork. Nothing here waits: the caller repeats cgroup_leaf_kill() until cgroup_leaf_pids() finds
 * none, in its event loop. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

typedef enum CgroupKind {
        CGROUP_UNIFIED,
        CGROUP_V1_MEMORY,
        CGROUP_V1_PIDS,
        CGROUP_V1_FREEZER,
        _CGROUP_KIND_MAX,
        _CGROUP_KIND_INVALID = -EINVAL,
} CgroupKind;

typedef struct CgroupLayout {
        char *parent;                 /* our subtree's name in each hierarchy */
        char *dirs[_CGROUP_KIND_MAX]; /* "<hierarchy>/<parent>" of each hierarchy we use, or NULL */
        bool unified_kill;            /* dirs[CGROUP_UNIFIED] offers cgroup.kill */
        bool unified_pure;            /* /sys/fs/cgroup itself is cgroup2 */
} CgroupLayout;

#define CGROUP_LAYOUT_NULL ((CgroupLayout){})
#define CGROUP_PARENT_DEFAULT "cuttlefish-host-resources"

/* root: where the hierarchies are mounted (/sys/fs/cgroup; tests may point elsewhere). Makes our
 * subtree in each usable hierarchy. Never fails for a host that has no cgroups: the layout is
 * then empty and every leaf operation is a no-op. */
int cgroup_layout_init(CgroupLayout *l, const char *root, const char *parent);
void cgroup_layout_done(CgroupLayout *l);
/* Removes our subtree where it is empty (a daemon stopping with no instance). */
void cgroup_layout_remove(const CgroupLayout *l);
bool cgroup_layout_empty(const CgroupLayout *l);
/* "cgroup2", "hybrid", "v1" or "none"; and how a tree is killed: "cgroup.kill", "freezer",
 * "signals" or "none". */
const char *cgroup_layout_name(const CgroupLayout *l);
const char *cgroup_layout_kill_method(const CgroupLayout *l);

bool cgroup_leaf_name_valid(const char *leaf);

/* A fresh leaf in every hierarchy, with limits where the controller is there (0: none). An empty
 * leftover is removed and made again; one that still holds a task is -EBUSY. ret_procs: the
 * cgroup.procs files the child writes itself into (sandbox_enter). */
int cgroup_leaf_create(
                const CgroupLayout *l,
                const char *leaf,
                uint64_t memory_max,
                uint64_t tasks_max,
                char ***ret_procs);

/* The processes in the leaf, in any hierarchy (sorted, no duplicates). 0 with *ret_n = 0: empty
 * or absent. */
int cgroup_leaf_pids(const CgroupLayout *l, const char *leaf, pid_t **ret, size_t *ret_n);

/* One kill round (see the top of this file). Returns how many processes were signalled (for
 * cgroup.kill: 1 if written), 0 if none was found. */
int cgroup_leaf_kill(const CgroupLayout *l, const char *leaf);

/* rmdir in every hierarchy; -EBUSY while a task is left. */
int cgroup_leaf_remove(const CgroupLayout *l, const char *leaf);

/* The leaves under our subtree, in any hierarchy (names, sorted, no duplicates). */
int cgroup_leaves(const CgroupLayout *l, char ***ret);

/* The unified leaf's cgroup.events (inotify tells when "populated" changes), or NULL. */
char *cgroup_leaf_events_path(const CgroupLayout *l, const char *leaf);

/* "1234 (sleep), 1240 (sh)": for logs and status texts, at most max entries then "…". */
char *cgroup_pids_describe(const pid_t *pids, size_t n, size_t max);
