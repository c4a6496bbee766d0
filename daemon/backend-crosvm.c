/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The crosvm backend: "crosvm run" with the slot's taps as fds, its control socket (bound by the
 * daemon in the instance runtime dir as the owner, handed over listening), and crosvm's own client ("crosvm
 * stop|suspend|resume SOCKET") run as the instance's owner for control. The VM's fate is crosvm's exit code
 * (--extended-status). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/backend.h"
#include "vmm/crosvm.h"
#include "vmm/topology.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "common/macro.h"
#include "common/string-table.h"
#include "common/strv.h"
#include "common/time-util.h"
#include "vmm/vhost.h"

#define CROSVM_SOCKET_INTERVAL_USEC (50 * USEC_PER_MSEC)
#define CROSVM_SOCKET_ATTEMPTS 600 /* 30 s */

typedef enum CrosvmAction {
        CROSVM_STOP,
        CROSVM_SUSPEND,
        CROSVM_RESUME,
        _CROSVM_ACTION_MAX,
        _CROSVM_ACTION_INVALID = -EINVAL,
} CrosvmAction;

static const char *const crosvm_action_table[_CROSVM_ACTION_MAX] = {
        [CROSVM_STOP] = "stop",
        [CROSVM_SUSPEND] = "suspend",
        [CROSVM_RESUME] = "resume",
};

DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(crosvm_action, CrosvmAction);

int instance_vsock_busy(Instance *i, char **ret_error) {
        _cleanup_free_ char *users = NULL;
        bool named;

        (void) vhost_device_users(VHOST_VSOCK_DEVICE, &users);
        named = users && users[0];
        (void) asprintf(ret_error,
                        "vsock CID %u (slot %u) is already claimed by another VM%s%s%s; stop it, or use "
                        "another slot",
                        i->vsock_cid,
                        i->number,
                        named ? " (" : "",
                        named ? users : "",
                        named ? " have /dev/vhost-vsock open)" : "");
        return -EADDRINUSE;
}

/* The vsock device: where /dev/vhost-vsock exists, the daemon opens it (the owner need not be in
 * the kvm group) and checks the slot's CID is free, so a clash is a clear error now instead of a
 * VM that dies at boot. crosvm reopens the fd through /proc/self/fd and claims the CID itself,
 * so the check claims and releases it on a separate fd. */
static int crosvm_vsock(Instance *i, SpawnPlan *p, CrosvmPlan *plan, char **ret_error) {
        _cleanup_close_ int probe = -EBADF, fd = -EBADF;
        int r;

        r = vhost_vsock_open(NULL, i->vsock_cid, &probe);
        if (r == -ENOENT) {
                instance_log(i,
                             LOG_NOTICE,
                             "no %s on this host: the guest runs without vsock",
                             VHOST_VSOCK_DEVICE);
                return 0;
        }
        if (r == -EADDRINUSE)
                return instance_vsock_busy(i, ret_error);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot open %s: %s", VHOST_VSOCK_DEVICE, strerror(-r));
                return r;
        }
        probe = safe_close(probe);
        r = vhost_vsock_open(NULL, 0, &fd);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot open %s: %s", VHOST_VSOCK_DEVICE, strerror(-r));
                return r;
        }
        plan->vsock_cid = i->vsock_cid;
        plan->vhost_vsock_fd = 3 + (int) p->n_fds;
        p->fds[p->n_fds++] = TAKE_FD(fd);
        return 0;
}

static int crosvm_plan(Instance *i, SpawnPlan *p, char **ret_error) {
        _cleanup_(cpu_topology_done) CpuTopology topology = CPU_TOPOLOGY_NULL;
        _cleanup_(strv_freep) char **argv = NULL, **cpu_args = NULL;
        CrosvmPlan plan;
        int r;

        r = crosvm_find(&p->exe);
        if (r < 0) {
                (void) asprintf(ret_error, "crosvm not found: install crosvm (or set CF_CROSVM)");
                return r;
        }

        r = instance_open_taps(i, p->fds, ret_error);
        if (r < 0)
                return r;
        p->n_fds = INSTANCE_NICS;

        /* Bound at the control path by the daemon, as the owner; "crosvm stop PATH" connects there. */
        r = instance_plan_control_socket(i, p, SOCK_SEQPACKET, ret_error);
        if (r < 0)
                return r;
        plan = (CrosvmPlan){
                .crosvm = p->exe,
                .socket_fd = p->listen_fd,
                .n_nics = INSTANCE_NICS,
                .macs = { i->macs[0], i->macs[1], i->macs[2] },
        };
        /* Arm hosts with a device tree: the guest gets the host's clusters and capacities
         * (big.LITTLE), vCPU i on host CPU i. Elsewhere (x86, ACPI): a flat CPU list. CF_HOST_FDT
         * names another tree (a test hook). */
        if (cpu_topology_load(getenv("CF_HOST_FDT"), &topology) >= 0 &&
            cpu_topology_crosvm_args(&topology, i->spec.cpus, &cpu_args) > 0)
                plan.cpu_args = (const char *const *) cpu_args;
        r = crosvm_vsock(i, p, &plan, ret_error);
        if (r < 0)
                return r;

        r = crosvm_build_argv(&i->spec, &plan, &argv);
        if (r == -EINVAL) {
                (void) asprintf(ret_error,
                                "cannot build the crosvm command line: a disk path holds ',', '[', ']', '=' or "
                                "'\"', which crosvm's --block syntax cannot carry; rename the file");
                return r;
        }
        if (r < 0) {
                (void) asprintf(ret_error, "cannot build the crosvm command line: %s", strerror(-r));
                return r;
        }
        p->argv = TAKE_PTR(argv);
        p->new_netns = true;
        /* crosvm jails each device itself (minijail: namespaces, pivot_root, its own seccomp
         * policies), which our filter would forbid (unshare, mount). Ours applies only when the
         * caller turned crosvm's sandbox off. */
        p->seccomp = i->spec.crosvm_disable_sandbox;
        p->memory_overhead_mb = 512;
        p->tasks_max = 1024; /* crosvm runs a thread per device and vCPU */
        p->note = plan.vhost_vsock_fd > 0 ? "vsock" : "no vsock";
        return 0;
}

/* The socket is there, listening, from before crosvm's exec: ready at once. The wait is for a
 * crosvm an older daemon started with --socket=PATH, adopted before crosvm made it. */
static int crosvm_connect(Instance *i) {
        return instance_wait_control_socket(i, CROSVM_SOCKET_INTERVAL_USEC, CROSVM_SOCKET_ATTEMPTS);
}

static int crosvm_run(Instance *i, CrosvmAction action) {
        _cleanup_(strv_freep) char **argv = NULL;
        int r;

        if (!i->exe)
                return -ENOTCONN;
        r = crosvm_control_argv(i->exe, crosvm_action_to_string(action), i->control_path, &argv);
        if (r < 0)
                return r;
        return instance_run_control(i, action, argv, NULL);
}

/* crosvm has no separate power button on its socket that every guest honours: "stop" ends the VM
 * (exit 0); past the stop timeout the daemon signals. */
static int crosvm_stop(Instance *i, bool graceful) {
        return crosvm_run(i, CROSVM_STOP);
}

static int crosvm_suspend(Instance *i) {
        return crosvm_run(i, CROSVM_SUSPEND);
}

static int crosvm_resume(Instance *i) {
        return crosvm_run(i, CROSVM_RESUME);
}

static void crosvm_control_done(Instance *i, int action, int status) {
        if (status != 0) {
                instance_log(i,
                             LOG_WARNING,
                             "crosvm %s failed (%s %i)",
                             strempty(crosvm_action_to_string(action)),
                             status < 0 ? "signal" : "exit status",
                             status < 0 ? -status : status);
                return;
        }
        if (action == CROSVM_SUSPEND || action == CROSVM_RESUME)
                instance_notify_paused(i, action == CROSVM_SUSPEND);
}

/* crosvm src/main.rs CommandStatus, with --extended-status. */
static bool crosvm_exit_outcome(Instance *i, int status, InstanceReason *ret_reason) {
        switch (status) {
        case CROSVM_EXIT_RESET:
                /* The guest rebooted: restarted unless the policy is "no". */
                *ret_reason = REASON_GUEST_RESET;
                return true;
        case CROSVM_EXIT_CRASH:
                *ret_reason = REASON_CRASHED;
                return true;
        case CROSVM_EXIT_GUEST_PANIC:
                *ret_reason = REASON_GUEST_PANIC;
                return true;
        case CROSVM_EXIT_INVALID_ARGS:
                instance_set_status(i, "crosvm rejected its command line (exit 35); see the console log");
                *ret_reason = REASON_CRASHED;
                return true;
        case CROSVM_EXIT_WATCHDOG:
                *ret_reason = REASON_WATCHDOG;
                return true;
        default:
                return false;
        }
}

static int crosvm_control_path(Instance *i, char **ret) {
        return asprintf(ret, "%s/crosvm_control.sock", i->runtime_dir) < 0 ? -ENOMEM : 0;
}

const BackendOps backend_crosvm_ops = {
        .backend = BACKEND_CROSVM,
        .control_path = crosvm_control_path,
        .plan = crosvm_plan,
        .connect = crosvm_connect,
        .stop = crosvm_stop,
        .suspend = crosvm_suspend,
        .resume = crosvm_resume,
        .exit_outcome = crosvm_exit_outcome,
        .control_done = crosvm_control_done,
};
