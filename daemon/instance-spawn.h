/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Starting a VMM: the runtime directories, the backend's SpawnPlan, the slot's taps, the forked
 * child (its cgroup or systemd scope, the sandbox, the caller's paths checked as the caller, exec)
 * and its report pipe. The outcome goes to instance_notify_spawned() or
 * instance_notify_spawn_failed(); the spawn's time limit is the instance's timer. */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "common/time-util.h"

typedef struct Instance Instance;
typedef struct Scope Scope;

#define SPAWN_FDS_MAX 9 /* taps, vhost-net fds, the vhost-vsock fd, the control socket */
#define SPAWN_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* Everything the forked child needs, built by BackendOps.plan() in the daemon. */
typedef struct SpawnPlan {
        char *exe;              /* argv[0] */
        char **argv;            /* NULL-terminated */
        char **env;             /* NULL: the daemon's environment */
        int fds[SPAWN_FDS_MAX]; /* owned; handed over as 3, 4, ... in this order */
        size_t n_fds;
        int listen_fd; /* a handed-over socket (3, 4, ...) the child listen()s on before exec; 0: none */
        bool new_netns;              /* false: the host's network namespace (cvd) */
        bool seccomp;                /* our syscall filter (if vmm_seccomp is on) */
        uint64_t memory_overhead_mb; /* added to the guest's memory for the cgroup limit */
        uint64_t tasks_max;
        bool check_exe;        /* the exe is the caller's: the child checks it as them */
        const char *check_dir; /* a caller's directory the child checks it can read */
        const char *cwd;       /* working directory; NULL: / as inherited */
        const char *note;      /* for the "VMM started" log line: "KVM", "TCG", ... */
        char *disk_dir;        /* the instance's persistent disk directory, writable inside; or NULL */
        char **overlays;       /* made by the child, as the owner, when missing: qcow2 over ... */
        char **overlay_bases;  /* ... these read-only images (the same count) */
        char *qemu_img;        /* with this */
} SpawnPlan;

void spawn_plan_done(SpawnPlan *p);

/* Adds the VMM's control socket to the plan (a listening socket of type at i->control_path, the
 * owner's) and sets p->listen_fd; on failure *ret_error says why. */
int instance_plan_control_socket(Instance *i, SpawnPlan *p, int type, char **ret_error);

typedef struct InstanceSpawn {
        pid_t pid;     /* forked, not yet exec'd (or failed); 0: no spawn under way */
        int report_fd; /* its report pipe: EOF exec'd, a SpawnReport failed */
        int go_fd;     /* scope mode: one byte tells the child where its cgroup is */
        sd_event_source *report_source;
        Scope *scope; /* StartTransientUnit in flight */
        const char *note;
} InstanceSpawn;

#define INSTANCE_SPAWN_NULL \
        { .report_fd = -EBADF, .go_fd = -EBADF }

/* Forks the VMM's child. 0: under way (the outcome is notified later); <0: nothing was started
 * and *ret_error says why. */
int instance_spawn(Instance *i, char **ret_error);
/* Tests only (tests/unit/test-instance.c): replaces instance_spawn(); the hook forks a child of
 * its own and reports through instance_notify_spawned()/instance_notify_spawn_failed(). */
extern int (*instance_spawn_hook)(Instance *i, char **ret_error);
/* Gives up on a spawn under way: the child is SIGKILLed and reaped in the background. */
void instance_spawn_abandon(Instance *i);
bool instance_spawn_running(const Instance *i);

/* SIGKILLs everything the VMM started (its systemd scope, or our cgroup leaf). */
void instance_kill_tree(Instance *i);

/* Attaches to the slot's taps and makes them the owner's; ret_fds NULL: hold none of them. */
int instance_open_taps(Instance *i, int *ret_fds, char **ret_error);
