/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The jail a VMM runs in, entered by the forked child right before exec, in DESIGN.md §7's
 * order: new session, signals reset, fds closed except the handed-over ones; cgroup with memory
 * and task limits where the host allows; mount, IPC, UTS and an empty network namespace;
 * read-only system, private /tmp, the instance runtime dir writable; rlimits; the caller's uid,
 * gid and groups; no_new_privs; no capabilities; a libseccomp filter. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct SandboxSpec {
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* supplementary groups of the caller */
        size_t n_groups;
        const char *runtime_dir;           /* writable inside; must exist, owned by uid */
        const char *const *writable_paths; /* NULL-terminated, may be NULL: more writable files/dirs */
        const char *cgroup_name;           /* leaf name, e.g. "instance-3"; NULL: no cgroup */
        uint64_t memory_max_bytes;         /* 0: no limit */
        uint64_t tasks_max;                /* 0: no limit */
        const int *keep_fds;               /* fds to hand over, moved to 3, 4, ... in this order */
        size_t n_keep_fds;
        int stdout_fd;  /* becomes fd 1 and 2 (console log); -1: /dev/null */
        bool new_netns; /* false only for the cvd backend's lighter profile */
        bool seccomp;
} SandboxSpec;

/* In the forked child. On success returns 0 and the caller execs (fds 0-2 and the kept fds
 * are not close-on-exec). On failure returns a negative errno and sets *ret_step to a static
 * string naming the step ("setgroups", "seccomp", ...), for the child to report. */
int sandbox_enter(const SandboxSpec *spec, const char **ret_step);

/* Kills every process left in an instance's cgroup (a VMM's own children: launch_cvd's run_cvd,
 * crosvm...). -EOPNOTSUPP: no cgroup2 with cgroup.kill here. */
int sandbox_cgroup_kill(const char *cgroup_name);

/* Removes the cgroup an instance ran in (parent side, after the VMM is gone). */
int sandbox_cgroup_remove(const char *cgroup_name);

/* The seccomp filter alone, so tests can load it in a forked child. */
int sandbox_seccomp_load(void);
