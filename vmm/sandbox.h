/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The jail a VMM runs in, entered by the forked child right before exec, in DESIGN.md §7's
 * order: new session, signals reset, fds closed except the handed-over ones; the cgroup leaves the
 * daemon made (vmm/cgroup.c, with the memory and task limits); mount, IPC, UTS and an empty network
 * namespace; read-only system, private /tmp, the instance runtime dir writable; rlimits; the caller's uid,
 * gid and groups; no_new_privs; no capabilities; a libseccomp filter. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The syscall filter as BPF, compiled once by the parent (libseccomp's compiler allocates and
 * takes milliseconds: not something to redo in every child). */
typedef struct SeccompProgram {
        void *filter; /* struct sock_filter[len] */
        unsigned short len;
} SeccompProgram;

typedef struct SandboxSpec {
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* supplementary groups of the caller */
        size_t n_groups;
        const char *runtime_dir;           /* writable inside; must exist, owned by uid */
        const char *const *writable_paths; /* NULL-terminated, may be NULL: more writable files/dirs */
        const char *const *cgroup_procs;   /* cgroup.procs files to join (cgroup_leaf_create), or NULL */
        const int *keep_fds;               /* fds to hand over, moved to 3, 4, ... in this order */
        size_t n_keep_fds;
        int stdout_fd; /* becomes fd 1 and 2 (console log); -1: /dev/null */
        /* The caller's failure-report fd (close-on-exec), or NULL. It is kept open through the fds
         * step and ends up right behind the kept fds (3 + n_keep_fds), still close-on-exec; *report_fd
         * says where it is at every moment, so a failing step knows where to write. */
        int *report_fd;
        bool new_netns; /* false only for the cvd backend's lighter profile */
        bool seccomp;
        const SeccompProgram *seccomp_program; /* sandbox_seccomp_compile()'s; NULL: compiled here */
} SandboxSpec;

/* In the forked child. On success returns 0 and the caller execs (fds 0-2 and the kept fds
 * are not close-on-exec). On failure returns a negative errno and sets *ret_step to a static
 * string naming the step ("setgroups", "seccomp", ...), for the child to report. */
int sandbox_enter(const SandboxSpec *spec, const char **ret_step);

/* The seccomp filter alone, so tests can load it in a forked child: compiled there, or compiled
 * before (the same filter; no_new_privs or CAP_SYS_ADMIN needed to load it). */
int sandbox_seccomp_load(void);
int sandbox_seccomp_compile(SeccompProgram *ret);
int sandbox_seccomp_program_load(const SeccompProgram *p);
void sandbox_seccomp_program_done(SeccompProgram *p);
