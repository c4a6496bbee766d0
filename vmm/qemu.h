/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The qemu backend: the command line from an InstanceSpec, and a QMP client. */

#include <stdbool.h>
#include <sys/types.h>

#include "vmm/spec.h"

typedef struct QemuPlan {
        const char *qemu;     /* executable, e.g. /usr/bin/qemu-system-x86_64 */
        bool kvm;             /* /dev/kvm usable: -accel kvm, else -accel tcg */
        unsigned n_nics;      /* tap fds are 3 .. 3+n_nics-1 in the child */
        const char *macs[4];  /* one per NIC, "00:1a:11:e1:cf:02" */
        int qmp_fd;           /* the QMP monitor's listening socket, handed over as this fd */
        const char *const *overlays; /* qcow2 overlays of spec->images, the instance's, or NULL */
        bool paused;          /* -S: start with the CPUs stopped */
        int vhost_net_fds[4]; /* per NIC: an open /dev/vhost-net handed over as this fd; 0: none */
        int vsock_fd;         /* an open /dev/vhost-vsock (CID claimed) handed over as this fd; 0: none */
        unsigned vsock_cid;
} QemuPlan;

/* Builds the argv (NULL-terminated, argv[0] = plan->qemu). Paths from the spec are passed as
 * they are: QEMU opens them as the caller, inside the sandbox. */
int qemu_build_argv(const InstanceSpec *spec, const QemuPlan *plan, char ***ret);

/* Finds qemu-system-<host arch>: $CF_QEMU, else PATH. */
int qemu_find(char **ret);

/* QMP: a non-blocking client the daemon drives from its event loop. */
typedef struct Qmp Qmp;

typedef enum QmpEvent {
        QMP_EVENT_NONE,
        QMP_EVENT_READY,    /* greeting seen and qmp_capabilities accepted */
        QMP_EVENT_SHUTDOWN, /* guest powered off (or quit) */
        QMP_EVENT_RESET,
        QMP_EVENT_GUEST_PANICKED,
        QMP_EVENT_STOP, /* CPUs paused */
        QMP_EVENT_RESUME,
        QMP_EVENT_REPLY, /* a command returned */
        QMP_EVENT_ERROR, /* a command failed */
        _QMP_EVENT_MAX,
        _QMP_EVENT_INVALID = -EINVAL,
} QmpEvent;

/* A non-blocking connection to the socket file at path, which must be owner's ((uid_t) -1: any)
 * and is never followed (see unix_socket_connect_nofollow()). -ENOENT/-ECONNREFUSED: not there. */
int qmp_connect(const char *path, uid_t owner, Qmp **ret);
Qmp *qmp_free(Qmp *q);
int qmp_fd(Qmp *q);
/* Queues a command ("system_powerdown", "stop", "cont", "quit"). */
int qmp_send(Qmp *q, const char *command);
/* True while queued output waits for the socket to be writable. */
bool qmp_wants_write(Qmp *q);
/* Reads/writes what it can; calls cb for each event. Returns <0 on a broken connection
 * (-ECONNRESET when QEMU closed it). */
int qmp_process(Qmp *q, void (*cb)(QmpEvent ev, const char *detail, void *userdata), void *userdata);
