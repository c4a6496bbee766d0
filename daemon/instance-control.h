/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The control side of a VMM that is not QMP: commands run as the instance's owner in a child
 * (crosvm's "crosvm stop/suspend/resume", launch_cvd's monitor), bounded by a timeout, and the
 * wait for a backend's control socket to appear. The backend learns the outcome through
 * BackendOps.control_done(); the instance through instance_notify_control_ready(). */

#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

typedef struct Instance Instance;

typedef struct InstanceControl {
        pid_t pid; /* the command running, 0: none */
        int pidfd;
        int action;
        sd_event_source *exit_source, *timeout_source;
        sd_event_source *retry_source; /* waiting for the control socket */
        unsigned attempts;
} InstanceControl;

#define INSTANCE_CONTROL_NULL \
        { .pidfd = -EBADF }

/* Runs a control command as the instance's owner, in a child: argv is exec'd, or else func runs
 * and its return value is the exit code. The backend's control_done() gets the outcome (exit
 * code, -signal). Bounded by a timeout; -EBUSY while another runs. */
int instance_run_control(Instance *i, int action, char **argv, int (*func)(Instance *i, int action));
/* Ends a running command (SIGKILL; reaped in the background) and forgets it. */
void instance_control_abort(Instance *i);
/* Checks for the backend's control socket (every interval, at most attempts times), then calls
 * instance_notify_control_ready(). */
int instance_wait_control_socket(Instance *i, uint64_t interval_usec, unsigned attempts);
/* Stops waiting for the socket. */
void instance_control_stop_waiting(Instance *i);
