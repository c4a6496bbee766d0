/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An instance's states: the public State and StateReason (DESIGN.md §7), the supervisor's own
 * sub-states (daemon/instance.c), their names and how each sub-state shows publicly. Pure. */

#include <errno.h>
#include <stdbool.h>

#include "common/macro.h"

/* The public State property. */
typedef enum InstanceState {
        INSTANCE_CREATING,
        INSTANCE_STARTING,
        INSTANCE_RUNNING,
        INSTANCE_SUSPENDED,
        INSTANCE_STOPPING,
        INSTANCE_STOPPED,
        INSTANCE_FAILED,
        _INSTANCE_STATE_MAX,
        _INSTANCE_STATE_INVALID = -EINVAL,
} InstanceState;

/* The public StateReason: the result of the transition into the current state. */
typedef enum InstanceReason {
        REASON_REQUESTED,
        REASON_EXITED,
        REASON_CRASHED,
        REASON_KILLED,
        REASON_GUEST_RESET,
        REASON_GUEST_PANIC,
        REASON_BOOT_TIMEOUT,
        REASON_SPAWN_FAILED,
        REASON_DAEMON_LOST,
        REASON_RESTART_LIMIT,
        REASON_RESTARTING,       /* Restart(): stopping to start again */
        REASON_WATCHDOG,         /* crosvm: the guest's vCPUs stalled (exit 36) */
        REASON_LEAKED_PROCESSES, /* the VMM's tree could not be emptied: the slot is kept */
        REASON_HOST_REBOOT,      /* back from its persistent definition after the host restarted */
        _INSTANCE_REASON_MAX,
        _INSTANCE_REASON_INVALID = -EINVAL,
} InstanceReason;

/* The supervisor's own states. */
typedef enum InstanceSubState {
        INSTANCE_SUB_NEW,           /* created, never started               creating */
        INSTANCE_SUB_SPAWNING,      /* forked; the child runs its sandbox   starting */
        INSTANCE_SUB_STARTING,      /* exec'd; control channel not up yet   starting */
        INSTANCE_SUB_RUNNING,       /*                                      running */
        INSTANCE_SUB_PAUSED,        /*                                      suspended */
        INSTANCE_SUB_STOP_GRACEFUL, /* power button (or the like) sent      stopping */
        INSTANCE_SUB_STOP_QUIT,     /* quit or SIGTERM sent                 stopping */
        INSTANCE_SUB_STOP_KILL,     /* SIGKILL sent                         stopping */
        INSTANCE_SUB_REAPING,       /* VMM gone, the rest of its tree ends  stopping */
        INSTANCE_SUB_AUTO_RESTART,  /* the restart policy's back-off        stopped/failed by result */
        INSTANCE_SUB_DEAD,          /* no VMM                               stopped/failed by result */
        INSTANCE_SUB_LEAKED,        /* its tree outlived SIGKILL            failed */
        _INSTANCE_SUB_MAX,
        _INSTANCE_SUB_INVALID = -EINVAL,
} InstanceSubState;

const char *instance_state_to_string(InstanceState s) _pure_;
InstanceState instance_state_from_string(const char *s) _pure_;
const char *instance_reason_to_string(InstanceReason r) _pure_;
InstanceReason instance_reason_from_string(const char *s) _pure_;
const char *instance_sub_state_to_string(InstanceSubState s) _pure_;
/* The public state of a sub-state entered with result. */
InstanceState instance_sub_state_public(InstanceSubState s, InstanceReason result) _pure_;

/* Does a run that ended this way count as a failure (State "failed")? */
bool instance_reason_is_failure(InstanceReason r) _pure_;
