/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The cvd backend: a Cuttlefish host package's launch_cvd for one slot, and the client side of
 * its launcher monitor socket. Flags and paths follow google/android-cuttlefish: launch_cvd's
 * flags (base/cvd/cuttlefish/host/commands/start/start_flags.cpp, the files in assemble_cvd/flags/), the
 * socket path (assemble_cvd/flags.cc InstancesUdsDir(), cvd/instances/local_instance.cpp
 * GetLauncherMonitor()) and its one-byte protocol (host/libs/command_util/runner/defs.h). */

#include <stdbool.h>
#include <sys/types.h>

#include "vmm/spec.h"

/* What run_cvd prints once Android reports boot completed. */
#define CVD_BOOT_MARKER "VIRTUAL_DEVICE_BOOT_COMPLETED"

/* LauncherAction and LauncherResponse (runner/defs.h). */
#define CVD_MONITOR_STOP 'X'
#define CVD_MONITOR_STATUS 'I'
#define CVD_MONITOR_SUCCESS 'S'
#define CVD_MONITOR_ERROR 'E'
#define CVD_MONITOR_UNKNOWN 'U'

typedef struct CvdPlan {
        const char *launch_cvd; /* executable: HOST_PACKAGE/bin/launch_cvd, or found in PATH */
        unsigned instance;      /* the slot: launch_cvd derives taps, CID and ports from it */
        const char *home;       /* HOME: launch_cvd's runtime files (a dir under the runtime dir) */
        const char *tmpdir;     /* TMPDIR: where its sockets go (the monitor socket among them) */
        const char *host_out;   /* ANDROID_HOST_OUT: the host package; NULL: launch_cvd's own dir */
        const char *vm_manager; /* "crosvm", "qemu_cli"; NULL: launch_cvd decides */
} CvdPlan;

int cvd_build_argv(const InstanceSpec *spec, const CvdPlan *plan, char ***ret);
/* The whole environment launch_cvd gets: HOME, TMPDIR, ANDROID_HOST_OUT, ANDROID_PRODUCT_OUT,
 * PATH, USER/LOGNAME unset (it must not guess a vsoc-NN account from them). */
int cvd_build_env(const InstanceSpec *spec, const CvdPlan *plan, char ***ret);

/* TMPDIR/cf_avd_UID/cvd-N/launcher_monitor.sock */
int cvd_monitor_path(const char *tmpdir, uid_t uid, unsigned instance, char **ret);

/* HOST_PACKAGE/bin/launch_cvd when the caller gave a host package (not checked here: the daemon
 * must not look at the caller's files as root); else $CF_LAUNCH_CVD, else launch_cvd in PATH. */
int cvd_find(const char *host_package, char **ret);

/* A short text for launch_cvd's exit codes (runner/defs.h RunnerExitCodes), NULL if unknown. */
const char *cvd_exit_description(int status);

/* Blocking client, for a child process running as the instance's owner: connects, sends action,
 * returns the one-byte reply in *ret_reply. Bounded by timeout_msec for the whole exchange. */
int cvd_monitor_request(const char *path, char action, int timeout_msec, char *ret_reply);
