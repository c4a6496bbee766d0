/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What differs between VMMs, behind one table: which executable, its command line and
 * environment, which fds it gets, its sandbox profile, its control channel (QMP, crosvm's control
 * socket, launch_cvd's monitor socket) and what its exit status means. instance.c drives the
 * state machine; a backend reports what it sees (instance_notify_*()) and never sets state. Each
 * backend-*.c fills one table. */

#include <stdbool.h>
#include <stdint.h>

#include "daemon/instance-spawn.h"
#include "daemon/instance.h"

typedef struct BackendOps {
        Backend backend;
        const char *default_boot_marker; /* used when the caller gave none; NULL: booted at ready */

        /* Where its control socket is (malloc'd), under the instance's runtime dir. */
        int (*control_path)(Instance *i, char **ret);
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
        bool (*exit_outcome)(Instance *i, int status, InstanceReason *ret_reason);
        /* A command from instance_run_control() ended: status is its exit code, or -signal. */
        void (*control_done)(Instance *i, int action, int status);
} BackendOps;

extern const BackendOps backend_qemu_ops;
extern const BackendOps backend_crosvm_ops;
extern const BackendOps backend_cvd_ops;

/* NULL: the backend is not implemented. */
const BackendOps *backend_ops(Backend b);

/* The error for a vsock CID another VM holds, naming who has /dev/vhost-vsock open. */
int instance_vsock_busy(Instance *i, char **ret_error);
