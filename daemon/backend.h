/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What differs between VMMs, behind one table: which executable, its command line and
 * environment, which fds it gets, its sandbox profile, its control channel (QMP, crosvm's control
 * socket, launch_cvd's monitor socket) and what its exit status means. instance.c drives the
 * state machine and calls these; each backend-*.c fills one table. */

#include <stdbool.h>
#include <stdint.h>

#include "daemon/instance.h"

#define SPAWN_FDS_MAX 8 /* taps, vhost-net fds, the vhost-vsock fd */

/* Everything the forked child needs, built by BackendOps.plan() in the daemon. */
typedef struct SpawnPlan {
        char *exe;              /* argv[0] */
        char **argv;            /* NULL-terminated */
        char **env;             /* NULL: the daemon's environment */
        int fds[SPAWN_FDS_MAX]; /* owned; handed over as 3, 4, ... in this order */
        size_t n_fds;
        bool new_netns;              /* false: the host's network namespace (cvd) */
        bool seccomp;                /* our syscall filter (if vmm_seccomp is on) */
        uint64_t memory_overhead_mb; /* added to the guest's memory for the cgroup limit */
        uint64_t tasks_max;
        bool check_exe;        /* the exe is the caller's: the child checks it as them */
        const char *check_dir; /* a caller's directory the child checks it can read */
        const char *cwd;       /* working directory; NULL: / as inherited */
        const char *note;      /* for the "VMM started" log line: "KVM", "TCG", ... */
} SpawnPlan;

void spawn_plan_done(SpawnPlan *p);

typedef struct BackendOps {
        Backend backend;
        const char *default_boot_marker; /* used when the caller gave none; NULL: booted at ready */

        /* Builds the plan; on failure returns <0 and a message in *ret_error. */
        int (*plan)(Instance *i, SpawnPlan *p, char **ret_error);
        /* After spawn or re-adoption: start watching the control channel. <0: not (yet). */
        int (*connect)(Instance *i);
        void (*disconnect)(Instance *i);
        /* graceful: ask the guest to power off (or stop the VM); else make the VMM quit now.
         * <0: not possible (the caller falls back to signals). */
        int (*stop)(Instance *i, bool graceful);
        int (*suspend)(Instance *i); /* -EOPNOTSUPP: the backend cannot */
        int (*resume)(Instance *i);
        /* The VMM exited on its own with status (exit code, or -signal; INT32_MIN unknown).
         * Returns true and the outcome when the backend knows what the status means. */
        bool (*exit_outcome)(Instance *i, int status, InstanceState *ret_state, InstanceReason *ret_reason);
        /* A command from instance_run_control() ended: status is its exit code, or -signal. */
        void (*control_done)(Instance *i, int action, int status);
} BackendOps;

extern const BackendOps backend_qemu_ops;
extern const BackendOps backend_crosvm_ops;
extern const BackendOps backend_cvd_ops;

/* The error for a vsock CID another VM holds, naming who has /dev/vhost-vsock open. */
int instance_vsock_busy(Instance *i, char **ret_error);

/* NULL: the backend is not implemented. */
const BackendOps *backend_ops(Backend b);
