/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One virtual device: a slot's resources handed to a sandboxed VMM running as its owner, and the
 * state machine that tracks it (DESIGN.md §7) until Remove(). */

#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/macro.h"
#include "vmm/spec.h"

typedef struct BackendOps BackendOps;
typedef struct Manager Manager;
typedef struct Instance Instance;
typedef struct Qmp Qmp;
typedef struct Reap Reap;

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
        REASON_RESTARTING, /* Restart(): stopping to start again */
        REASON_WATCHDOG,   /* crosvm: the guest's vCPUs stalled (exit 36) */
        REASON_LEAKED_PROCESSES, /* the VMM's tree could not be emptied: the slot is kept */
        _INSTANCE_REASON_MAX,
        _INSTANCE_REASON_INVALID = -EINVAL,
} InstanceReason;

#define INSTANCE_NICS 3 /* ethernet, wifi, mobile taps, in this order */
#define INSTANCE_BOOT_MARKER_MAX 256
#define INSTANCE_RESTART_BURST 5
#define INSTANCE_RESTART_INTERVAL_USEC (60 * USEC_PER_SEC)

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

        InstanceState state;
        InstanceReason reason;
        char *status_text; /* human detail of the last failure */
        bool booted;
        pid_t pid;
        uint64_t pid_starttime;
        char *exe;
        int pidfd;
        sd_event_source *pidfd_source;
        int exit_status; /* exit code, or -signal */
        bool stop_requested, kill_requested, guest_shutdown;
        bool restart_requested;  /* Restart(): start again once the VMM is gone */
        pid_t spawn_pid;         /* forked, not yet exec'd (or failed) */
        int spawn_fd;            /* its report pipe */
        int spawn_go_fd;         /* scope mode: one byte tells the child where its cgroup is */
        sd_bus_slot *scope_slot; /* StartTransientUnit in flight */
        sd_event_source *scope_check_source;
        unsigned scope_checks;
        char *scope;            /* systemd transient scope holding the VMM, NULL: cgroupfs subtree */
        const char *spawn_note; /* static: "KVM", "TCG", ... */
        sd_event_source *spawn_source, *spawn_timeout_source;
        sd_bus_message *pending_reply; /* CreateInstance()/Start(): answered once the VMM exec'd */
        sd_bus_message *remove_reply;  /* Remove()/RemoveInstance(): answered once the VMM is gone */
        sd_event_source *remove_source, *remove_timeout_source;
        bool remove_gave_up; /* the VMM outlived SIGKILL by 5 s: release without waiting again */
        Reap *reap;          /* the VMM is gone, the rest of its cgroup is being ended */
        bool reap_for_remove; /* ... for Remove() of an instance with no VMM (daemon-lost, leaked) */
        bool dir_fresh;      /* runtime_dir was made for this instance (never an old one reused) */
        bool pending_create;

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
        unsigned restart_count;
        uint64_t restart_times[INSTANCE_RESTART_BURST];

        sd_event_source *control_retry_source; /* waiting for the control socket */
        unsigned control_attempts;
        pid_t control_pid; /* a control command running as the owner (crosvm stop, monitor 'X') */
        int control_pidfd;
        int control_action;
        sd_event_source *control_source, *control_timeout_source;
        Qmp *qmp; /* qemu */
        sd_event_source *qmp_source;
        sd_event_source *console_source;
        uint64_t console_offset;                    /* next byte of console.log to scan */
        uint64_t console_start;                     /* where the current run's output begins */
        char marker_tail[INSTANCE_BOOT_MARKER_MAX]; /* last bytes read, for a marker split across reads */
        size_t marker_tail_len;
        sd_event_source *boot_timeout_source;
        sd_event_source *stop_timeout_source;
        sd_event_source *restart_source;
        unsigned stop_timeout_sec;
        unsigned stop_stage; /* 0 power button sent, 1 quit sent, then SIGKILL */
        bool dirty;          /* properties to emit */
};

const char *instance_state_to_string(InstanceState s);
InstanceState instance_state_from_string(const char *s);
const char *instance_reason_to_string(InstanceReason r);
InstanceReason instance_reason_from_string(const char *s);

/* Takes ownership of *spec on success. Slot resources are claimed; the VMM is not started. */
int instance_new(
                Manager *m,
                unsigned number,
                uid_t owner,
                gid_t gid,
                const gid_t *groups,
                size_t n_groups,
                InstanceSpec *spec,
                Instance **ret);
Instance *instance_free(Instance *i);
DEFINE_CLEANUP(Instance *, instance_free);

int instance_start(Instance *i, char **ret_error);
int instance_stop(Instance *i);
int instance_kill(Instance *i, int sig);
int instance_suspend(Instance *i);
int instance_resume(Instance *i);
int instance_restart(Instance *i, char **ret_error);
/* Stops the VMM if needed and releases the slot. The caller unlinks and frees. */
void instance_release(Instance *i);
/* Remove() of an instance whose VMM runs: SIGKILL now, and the removal (and the reply to message)
 * once the VMM is gone, or after 5 s if it is stuck in the kernel; the daemon goes on meanwhile.
 * Returns 0 when it removed at once (no VMM), 1 when the reply is deferred, -EBUSY when a removal
 * is already under way. */
int instance_remove_async(Instance *i, sd_bus_message *message);

bool instance_is_active(const Instance *i);   /* a VMM process exists */
bool instance_is_removing(const Instance *i);
/* Its VMM or what the VMM left is still being ended: Start() must wait. */
bool instance_is_reaping(const Instance *i);
/* The cgroup leaf of the instance's slot ("instance-N"). */
int instance_leaf_name(unsigned number, char *buf, size_t size); /* Remove() waits for the VMM to die */

/* For re-adoption after a daemon restart: the VMM recorded in state.json still runs. */
int instance_adopt(Instance *i, pid_t pid, uint64_t starttime, const char *exe);

void instance_set_state(Instance *i, InstanceState s, InstanceReason r);

/* For the backends (daemon/backend-*.c). */
void instance_log(Instance *i, int level, const char *fmt, ...) _printf_(3, 4);
void instance_set_status(Instance *i, const char *text);
void instance_set_booted(Instance *i, bool b);
int instance_signal(Instance *i, int sig);
/* The control channel is up: starting becomes running; booted now unless a marker decides. */
void instance_control_ready(Instance *i);
/* The guest reset in place: only the next boot's marker counts. */
void instance_guest_reset(Instance *i);
/* Runs a control command as the instance's owner, in a child: argv is exec'd, or else func runs
 * and its return value is the exit code. The backend's control_done() gets the outcome (exit
 * code, -signal). Bounded by a timeout; -EBUSY while another runs. */
int instance_run_control(Instance *i, int action, char **argv, int (*func)(Instance *i, int action));
/* Polls for the backend's control socket to appear (every interval, at most attempts times),
 * then calls instance_control_ready(). */
int instance_wait_control_socket(Instance *i, uint64_t interval_usec, unsigned attempts);
/* Attaches to the slot's taps and makes them the owner's; ret_fds NULL: hold none of them. */
int instance_open_taps(Instance *i, int *ret_fds, char **ret_error);
