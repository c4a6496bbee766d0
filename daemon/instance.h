/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One virtual device: a slot's resources handed to a sandboxed VMM running as its owner, and the
 * supervisor that tracks it (DESIGN.md §7) until Remove(). The model is systemd's service.c: the
 * supervisor has sub-states of its own (InstanceSubState), each mapped to the public State; each
 * transition carries a result, which becomes the public StateReason; one timer is armed per
 * sub-state; only instance.c changes state. Backends, recovery and the bus call the verbs below or
 * tell the instance what they saw through instance_notify_*(). */

#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/macro.h"
#include "common/time-util.h"
#include "daemon/instance-console.h"
#include "daemon/instance-control.h"
#include "daemon/instance-spawn.h"
#include "daemon/state.h"
#include "daemon/instance-state.h"
#include "vmm/spec.h"

typedef struct BackendOps BackendOps;
typedef struct Manager Manager;
typedef struct Instance Instance;
typedef struct Qmp Qmp;
typedef struct Reap Reap;

#define INSTANCE_NICS 3 /* ethernet, wifi, mobile taps, in this order */
#define INSTANCE_BOOT_MARKER_MAX CONSOLE_MARKER_MAX
#define INSTANCE_RESTART_BURST 5
#define INSTANCE_RESTART_INTERVAL_USEC (60 * USEC_PER_SEC)
#define INSTANCE_KILL_TIMEOUT_USEC (5 * USEC_PER_SEC)

struct Instance {
        Manager *manager;
        unsigned number;
        uid_t owner;
        gid_t owner_gid;
        gid_t *groups;
        size_t n_groups;
        InstanceSpec spec;
        const BackendOps *ops; /* NULL: the backend is not implemented */
        char *object_path;

        /* The state machine (written by instance.c only). */
        InstanceSubState sub;
        InstanceState state;   /* public, from sub (and result where the sub-state says so) */
        InstanceReason reason; /* public: the result of the last transition */
        InstanceReason result; /* the current run's outcome so far; _INVALID: nothing yet */
        char *status_text;     /* human detail of the last failure */
        bool booted;
        sd_event_source *timer_source; /* the one timer of the current sub-state */
        uint64_t boot_deadline;        /* CLOCK_MONOTONIC; 0: no boot timeout */
        uint64_t restart_delay_usec;   /* AUTO_RESTART's back-off */
        unsigned stop_timeout_sec;
        unsigned restart_count;
        uint64_t restart_times[INSTANCE_RESTART_BURST];
        bool guest_shutdown, guest_panicked; /* what the control channel saw of this run */

        /* The VMM. */
        pid_t pid;
        uint64_t pid_starttime;
        char *exe;
        int pidfd;
        sd_event_source *pidfd_source;
        int exit_status; /* exit code, or -signal; INT32_MIN unknown */
        char *scope;     /* systemd transient scope holding the VMM, NULL: our cgroupfs leaf */
        InstanceSpawn spawn;
        ConsoleWatch console;
        InstanceControl control;
        Reap *reap;                  /* the VMM is gone, the rest of its cgroup is being ended */
        bool dir_fresh;              /* runtime_dir was made for this instance (never an old one reused) */
        bool release_after_recovery; /* recovery found it dead: its resources go after the orphan pass */
        Qmp *qmp;                    /* the qemu backend's */
        sd_event_source *qmp_source;

        /* The bus (replies are written by instance-bus.c). */
        sd_bus_message *start_reply; /* CreateInstance()/Start(): answered once the VMM exec'd */
        bool start_reply_create;     /* ... it is CreateInstance()'s */
        sd_bus_message *remove_reply;
        bool removing; /* Remove(): freed once the VMM and its tree are gone */
        bool dirty;    /* properties to emit */
        bool in_gc_queue;
        bool autostarting;       /* started by the autostart queue, not yet out of "starting" */
        bool definition_unsaved; /* its definition is written with the next coalesced save */
        Instance *gc_next;

        char *runtime_dir;
        char *console_log;
        char *control_path; /* the backend's control socket (QMP, crosvm, launch_cvd monitor) */
        char *home_dir;     /* cvd: launch_cvd's HOME and TMPDIR, under runtime_dir */
        char *tmp_dir;
        char taps[INSTANCE_NICS][IFNAMSIZ];
        char macs[INSTANCE_NICS][18];
        unsigned vsock_cid;
        uint64_t created_realtime; /* usec since the epoch */
        uint64_t started_realtime;
};

/* Takes ownership of *spec on success. Slot resources are claimed; the VMM is not started. The
 * instance is not in the Manager's table until manager_add_instance(). */
int instance_new(
                Manager *m,
                unsigned number,
                uid_t owner,
                gid_t gid,
                const gid_t *groups,
                size_t n_groups,
                InstanceSpec *spec,
                Instance **ret);
/* Takes the instance out of the Manager's table, answers what is pending, frees. */
Instance *instance_free(Instance *i);
DEFINE_CLEANUP(Instance *, instance_free);

/* Verbs. */
int instance_start(Instance *i, char **ret_error);
int instance_stop(Instance *i);
int instance_kill(Instance *i, int sig);
int instance_suspend(Instance *i);
int instance_resume(Instance *i);
int instance_restart(Instance *i, char **ret_error);
/* Remove(): 0 nothing runs, the caller removes now; 1 the VMM (or what it left) is being ended,
 * and the removal (with the answer to message) follows; -EBUSY a removal is already under way. */
int instance_remove(Instance *i, sd_bus_message *message);
/* Gives the slot's resources back (taps, cgroup leaf, runtime dir). Nothing may run any more. */
void instance_release(Instance *i);
/* Queues the instance for removal from the table once the current callback is done. */
void instance_add_to_gc_queue(Instance *i);

/* CreateInstance() without start: creating becomes stopped. */
void instance_enter_created(Instance *i);
/* Recovery after a daemon restart. The VMM recorded in state.json still runs: */
int instance_adopt(Instance *i, pid_t pid, uint64_t starttime, const char *exe, bool suspended);
/* No VMM: the instance comes back stopped or failed as recorded (or as recovery decides). */
void instance_enter_recovered(Instance *i, InstanceState state, InstanceReason reason);

bool instance_is_active(const Instance *i); /* a VMM process exists */
/* For state.json (run) or a definition (daemon/persist.h); borrows i's strings. */
StateRecord instance_record(Instance *i, bool run);
bool instance_is_removing(const Instance *i);
/* Its VMM or what the VMM left is still being ended: Start() must wait. */
bool instance_is_reaping(const Instance *i);
/* The cgroup leaf of the instance's slot ("instance-N"). */
int instance_leaf_name(unsigned number, char *buf, size_t size);

/* What the spawn, the console, the backends and the control channel saw. */
void instance_notify_spawned(Instance *i, pid_t pid);
void instance_notify_spawn_failed(Instance *i, const char *error);
/* The control channel is up: starting becomes running; booted now unless a marker decides. */
void instance_notify_control_ready(Instance *i);
/* The guest reset in place: only the next boot's marker counts. */
void instance_notify_guest_reset(Instance *i);
void instance_notify_guest_panic(Instance *i);
void instance_notify_guest_shutdown(Instance *i);
/* The VMM paused or resumed the guest (QMP STOP/RESUME, a crosvm command's outcome). */
void instance_notify_paused(Instance *i, bool paused);

/* For the backends. */
void instance_log(Instance *i, int level, const char *fmt, ...) _printf_(3, 4);
void instance_set_status(Instance *i, const char *text);
int instance_signal(Instance *i, int sig);
