/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The crosvm backend's command lines: "crosvm run" from an InstanceSpec, and the control client
 * subcommands ("crosvm stop|suspend|resume SOCKET") the daemon runs as the instance's owner.
 * The syntax follows crosvm's src/crosvm/cmdline.rs (RunCommand and the control commands) and
 * the way Cuttlefish assembles it (base/cvd/cuttlefish/host/libs/vm_manager/crosvm_manager.cpp,
 * crosvm_builder.cpp). */

#include <stdbool.h>

#include "vmm/spec.h"

/* crosvm's exit codes with --extended-status (src/main.rs, CommandStatus). Without that global
 * flag crosvm exits 0 whatever happened to the VM. */
#define CROSVM_EXIT_RESET 32
#define CROSVM_EXIT_CRASH 33
#define CROSVM_EXIT_GUEST_PANIC 34
#define CROSVM_EXIT_INVALID_ARGS 35
#define CROSVM_EXIT_WATCHDOG 36

typedef struct CrosvmPlan {
        const char *crosvm;      /* executable */
        int socket_fd;           /* the control socket, listening, handed over as this fd */
        unsigned n_nics;         /* tap fds are 3 .. 3+n_nics-1 in the child */
        const char *macs[4];
        bool vhost_net;              /* /dev/vhost-net exists: "vhost-net" on each --net */
        unsigned vsock_cid;          /* 0: no vsock device */
        int vhost_vsock_fd;          /* >0: an open /dev/vhost-vsock handed over as this fd */
        const char *const *cpu_args; /* from the CPU topology helper, e.g. "--cpu-cluster=0,1" */
} CrosvmPlan;

/* Builds the argv (NULL-terminated, argv[0] = plan->crosvm). Paths from the spec are passed as
 * they are: crosvm opens them as the caller. -EINVAL when a value cannot be expressed in crosvm's
 * key=value syntax (a disk path with ',' or '['). */
int crosvm_build_argv(const InstanceSpec *spec, const CrosvmPlan *plan, char ***ret);

/* "crosvm stop SOCKET" and friends. command: "stop", "suspend", "resume". */
int crosvm_control_argv(const char *crosvm, const char *command, const char *socket_path, char ***ret);

/* The --gpu value for a gpu_mode, NULL when crosvm gets no GPU ("none", "auto" unresolved). */
const char *crosvm_gpu_arg(const char *gpu_mode);

/* $CF_CROSVM, else crosvm in PATH. */
int crosvm_find(char **ret);
