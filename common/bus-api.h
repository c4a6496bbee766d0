/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The D-Bus API's names (DESIGN.md §8), shared by the daemon and cfctl. */

#include <stdio.h>

#include <systemd/sd-bus.h>

#define BUS_NAME "org.cuttlefish.HostResources1"
#define MANAGER_PATH "/org/cuttlefish/HostResources1"
#define MANAGER_INTERFACE "org.cuttlefish.HostResources1.Manager"
#define INSTANCE_INTERFACE "org.cuttlefish.HostResources1.Instance"
/* Instance objects are INSTANCE_PATH_PREFIX + the slot number in decimal. */
#define INSTANCE_PATH_PREFIX MANAGER_PATH "/instance/"

#define BUS_ERROR_PREFIX "org.cuttlefish.HostResources1.Error."
#define BUS_ERROR_NO_SUCH_INSTANCE BUS_ERROR_PREFIX "NoSuchInstance"
#define BUS_ERROR_NO_FREE_SLOT BUS_ERROR_PREFIX "NoFreeSlot"
#define BUS_ERROR_SLOT_BUSY BUS_ERROR_PREFIX "SlotBusy"
#define BUS_ERROR_INVALID_OPTION BUS_ERROR_PREFIX "InvalidOption"
#define BUS_ERROR_INVALID_STATE BUS_ERROR_PREFIX "InvalidState"
#define BUS_ERROR_QUOTA_EXCEEDED BUS_ERROR_PREFIX "QuotaExceeded"
#define BUS_ERROR_NETWORK_DOWN BUS_ERROR_PREFIX "NetworkDown"
#define BUS_ERROR_BACKEND_UNAVAILABLE BUS_ERROR_PREFIX "BackendUnavailable"
#define BUS_ERROR_SPAWN_FAILED BUS_ERROR_PREFIX "SpawnFailed"
/* Added beyond DESIGN.md §8: */
#define BUS_ERROR_INVALID_CONFIG BUS_ERROR_PREFIX "InvalidConfig"
#define BUS_ERROR_NETWORK_FAILED BUS_ERROR_PREFIX "NetworkFailed"
#define BUS_ERROR_GPU_MODE_UNAVAILABLE BUS_ERROR_PREFIX "GpuModeUnavailable"
#define BUS_ERROR_LEAKED_PROCESSES BUS_ERROR_PREFIX "LeakedProcesses"

/* Registered with sd_bus_error_add_map() by the daemon and by cfctl (common/bus-errors.c). */
extern const sd_bus_error_map cf_bus_errors[];

/* The object path of instance number (malloc'd, NULL on OOM). */
static inline char *cf_instance_path(unsigned number) {
        char *p;

        if (asprintf(&p, INSTANCE_PATH_PREFIX "%u", number) < 0)
                return NULL;
        return p;
}
