/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cvd backend: a Cuttlefish host package's launch_cvd for slot N, in the foreground.
 *
 * It opens the slot's persistent taps BY NAME (launch_cvd derives cvd-etap-NN etc. from
 * --base_instance_num), so the daemon holds none of them open: it only makes them the owner's
 * while the instance holds the slot. Its sandbox is the lighter profile DESIGN.md §7 allows:
 *   - new session, signals reset, every fd but stdio closed;
 *   - its own cgroup with memory (guest + 3 GiB) and task (8192) limits; SIGKILL kills the
 *     whole cgroup, since launch_cvd's run_cvd, crosvm and helpers are its children;
 *   - the HOST network namespace (it reaches the taps, adb and WebRTC ports there);
 *   - a mount namespace: read-only system, private /tmp and /dev/shm, the instance runtime dir
 *     writable (HOME and TMPDIR point into it), the disks given writable;
 *   - the caller's uid, gid and groups (kvm, cvdnetwork, render come from the user database);
 *   - capabilities dropped and no_new_privs: file capabilities do not apply, so launch_cvd's
 *     --use_cvdalloc (a setcap helper) cannot work here, and is not needed: the taps exist;
 *   - NO seccomp filter: crosvm's device jails under launch_cvd need unshare and mount.
 * Control: the launcher monitor socket (TMPDIR/cf_avd_UID/cvd-N/launcher_monitor.sock), one
 * byte 'X' for stop, answered 'S'; then SIGTERM, then SIGKILL to the cgroup. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/backend.h"
#include "vmm/cvd.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "common/macro.h"
#include "common/strv.h"
#include "common/time-util.h"

#define CVD_SOCKET_INTERVAL_USEC (250 * USEC_PER_MSEC)
#define CVD_SOCKET_ATTEMPTS 2400 /* 10 min: launch_cvd assembles images before run_cvd listens */
#define CVD_MONITOR_TIMEOUT_MSEC 8000

enum {
        CVD_ACTION_STOP,
};

/* HOME and TMPDIR inside the owner's runtime dir. The runtime dir is the owner's: never follow
 * what they may have put there, never chown anything that already existed. */
static int cvd_make_dir(Instance *i, const char *path) {
        struct stat st;

        if (mkdir(path, 0700) >= 0) {
                if (lchown(path, i->owner, i->owner_gid) < 0)
                        return -errno;
                return 0;
        }
        if (errno != EEXIST)
                return -errno;
        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) || st.st_uid != i->owner)
                return -ENOTDIR;
        return 0;
}

static int cvd_plan(Instance *i, SpawnPlan *p, char **ret_error) {
        _cleanup_(strv_freep) char **argv = NULL, **env = NULL;
        CvdPlan plan;
        int r;

        r = cvd_find(i->spec.host_package, &p->exe);
        if (r < 0) {
                (void) asprintf(ret_error,
                                "launch_cvd not found: give host_package (the directory with bin/launch_cvd), or "
                                "set CF_LAUNCH_CVD");
                return r;
        }

        r = cvd_make_dir(i, i->home_dir);
        if (r >= 0)
                r = cvd_make_dir(i, i->tmp_dir);
        if (r < 0) {
                (void) asprintf(ret_error,
                                "cannot prepare %s and %s: %s",
                                i->home_dir,
                                i->tmp_dir,
                                r == -ENOTDIR ? "not a directory of the owner's" : strerror(-r));
                return r;
        }

        /* Owned by the caller, held by nobody: launch_cvd attaches by name. */
        r = instance_open_taps(i, NULL, ret_error);
        if (r < 0)
                return r;

        plan = (CvdPlan){
                .launch_cvd = p->exe,
                .instance = i->number,
                .home = i->home_dir,
                .tmpdir = i->tmp_dir,
                .host_out = i->spec.host_package,
                /* crosvm needs KVM; Cuttlefish's only software path is QEMU. */
                .vm_manager = access("/dev/kvm", F_OK) >= 0 ? "crosvm" : "qemu_cli",
        };
        r = cvd_build_argv(&i->spec, &plan, &argv);
        if (r >= 0)
                r = cvd_build_env(&i->spec, &plan, &env);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot build the launch_cvd command line: %s", strerror(-r));
                return r;
        }
        p->argv = TAKE_PTR(argv);
        p->env = TAKE_PTR(env);
        p->new_netns = false;
        p->seccomp = false;
        p->memory_overhead_mb = 3072;
        p->tasks_max = 8192;
        p->check_exe = i->spec.host_package != NULL;
        p->check_dir = i->spec.images_dir;
        p->cwd = i->home_dir;
        p->note = plan.vm_manager;
        return 0;
}

static int cvd_connect(Instance *i) {
        return instance_wait_control_socket(i, CVD_SOCKET_INTERVAL_USEC, CVD_SOCKET_ATTEMPTS);
}

/* In the control child, as the owner. Exit 0: 'S'; 1: 'E' or another reply; 2: no answer. */
static int cvd_monitor_child(Instance *i, int action) {
        char reply = 0;

        if (cvd_monitor_request(i->control_path, CVD_MONITOR_STOP, CVD_MONITOR_TIMEOUT_MSEC, &reply) < 0)
                return 2;
        return reply == CVD_MONITOR_SUCCESS ? 0 : 1;
}

static int cvd_stop(Instance *i, bool graceful) {
        if (!graceful)
                return -EOPNOTSUPP; /* SIGTERM, then SIGKILL to the cgroup */
        return instance_run_control(i, CVD_ACTION_STOP, NULL, cvd_monitor_child);
}

static void cvd_control_done(Instance *i, int action, int status) {
        if (status != 0)
                instance_log(i,
                             LOG_WARNING,
                             "launch_cvd's monitor did not accept the stop request (%s); signals follow",
                             status == 2 ? "no answer" : "refused");
}

static bool cvd_exit_outcome(Instance *i, int status, InstanceReason *ret_reason) {
        const char *what = cvd_exit_description(status);
        _cleanup_free_ char *text = NULL;

        if (!what)
                return false;
        if (asprintf(&text, "%s (launch_cvd exit %i)", what, status) >= 0)
                instance_set_status(i, text);
        *ret_reason = REASON_CRASHED;
        return true;
}

/* launch_cvd's monitor, under its TMPDIR (vmm/cvd.h). */
static int cvd_control_path(Instance *i, char **ret) {
        return cvd_monitor_path(i->tmp_dir, i->owner, i->number, ret);
}

const BackendOps backend_cvd_ops = {
        .backend = BACKEND_CVD,
        .control_path = cvd_control_path,
        .default_boot_marker = CVD_BOOT_MARKER,
        .plan = cvd_plan,
        .connect = cvd_connect,
        .stop = cvd_stop,
        .exit_outcome = cvd_exit_outcome,
        .control_done = cvd_control_done,
};
