/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stddef.h>

#include "common/macro.h"
#include "common/string-table.h"
#include "daemon/instance-state.h"

static const char *const instance_state_table[_INSTANCE_STATE_MAX] = {
        [INSTANCE_CREATING] = "creating",   [INSTANCE_STARTING] = "starting", [INSTANCE_RUNNING] = "running",
        [INSTANCE_SUSPENDED] = "suspended", [INSTANCE_STOPPING] = "stopping", [INSTANCE_STOPPED] = "stopped",
        [INSTANCE_FAILED] = "failed",
};

static const char *const instance_reason_table[_INSTANCE_REASON_MAX] = {
        [REASON_REQUESTED] = "requested",
        [REASON_EXITED] = "exited",
        [REASON_CRASHED] = "crashed",
        [REASON_KILLED] = "killed",
        [REASON_GUEST_RESET] = "guest-reset",
        [REASON_GUEST_PANIC] = "guest-panic",
        [REASON_BOOT_TIMEOUT] = "boot-timeout",
        [REASON_SPAWN_FAILED] = "spawn-failed",
        [REASON_DAEMON_LOST] = "daemon-lost",
        [REASON_RESTART_LIMIT] = "restart-limit",
        [REASON_RESTARTING] = "restarting",
        [REASON_WATCHDOG] = "watchdog",
        [REASON_LEAKED_PROCESSES] = "leaked-processes",
        [REASON_HOST_REBOOT] = "host-reboot",
};

static const char *const instance_sub_state_table[_INSTANCE_SUB_MAX] = {
        [INSTANCE_SUB_NEW] = "new",
        [INSTANCE_SUB_SPAWNING] = "spawning",
        [INSTANCE_SUB_STARTING] = "starting",
        [INSTANCE_SUB_RUNNING] = "running",
        [INSTANCE_SUB_PAUSED] = "paused",
        [INSTANCE_SUB_STOP_GRACEFUL] = "stop-graceful",
        [INSTANCE_SUB_STOP_QUIT] = "stop-quit",
        [INSTANCE_SUB_STOP_KILL] = "stop-kill",
        [INSTANCE_SUB_REAPING] = "reaping",
        [INSTANCE_SUB_AUTO_RESTART] = "auto-restart",
        [INSTANCE_SUB_DEAD] = "dead",
        [INSTANCE_SUB_LEAKED] = "leaked",
};

DEFINE_STRING_TABLE_LOOKUP(instance_state, InstanceState);
DEFINE_STRING_TABLE_LOOKUP(instance_reason, InstanceReason);
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(instance_sub_state, InstanceSubState);

/* Does a run that ended this way count as a failure (State "failed")? */
bool instance_reason_is_failure(InstanceReason r) {
        switch (r) {
        case REASON_REQUESTED:
        case REASON_EXITED:
        case REASON_KILLED:
        case REASON_GUEST_RESET:
        case REASON_RESTARTING:
        case REASON_HOST_REBOOT:
                return false;
        case REASON_CRASHED:
        case REASON_GUEST_PANIC:
        case REASON_BOOT_TIMEOUT:
        case REASON_SPAWN_FAILED:
        case REASON_DAEMON_LOST:
        case REASON_RESTART_LIMIT:
        case REASON_WATCHDOG:
        case REASON_LEAKED_PROCESSES:
        case _INSTANCE_REASON_MAX:
        case _INSTANCE_REASON_INVALID:
                break;
        }
        return true;
}

InstanceState instance_sub_state_public(InstanceSubState s, InstanceReason result) {
        switch (s) {
        case INSTANCE_SUB_NEW:
                return INSTANCE_CREATING;
        case INSTANCE_SUB_SPAWNING:
        case INSTANCE_SUB_STARTING:
                return INSTANCE_STARTING;
        case INSTANCE_SUB_RUNNING:
                return INSTANCE_RUNNING;
        case INSTANCE_SUB_PAUSED:
                return INSTANCE_SUSPENDED;
        case INSTANCE_SUB_STOP_GRACEFUL:
        case INSTANCE_SUB_STOP_QUIT:
        case INSTANCE_SUB_STOP_KILL:
        case INSTANCE_SUB_REAPING:
                return INSTANCE_STOPPING;
        case INSTANCE_SUB_AUTO_RESTART:
        case INSTANCE_SUB_DEAD:
                return instance_reason_is_failure(result) ? INSTANCE_FAILED : INSTANCE_STOPPED;
        case INSTANCE_SUB_LEAKED:
                return INSTANCE_FAILED;
        case _INSTANCE_SUB_MAX:
        case _INSTANCE_SUB_INVALID:
                break;
        }
        return _INSTANCE_STATE_INVALID;
}
