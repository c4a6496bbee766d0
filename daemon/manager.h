/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/bus-api.h"
#include "daemon/bus-auth.h"
#include "vmm/cgroup.h"
#include "vmm/sandbox.h"
#include "daemon/autostart.h"
#include "daemon/config.h"
#include "daemon/host-probe.h"
#include "daemon/instance.h"
#include "daemon/manager-bus.h"
#include "daemon/network.h"
#include "daemon/reap.h"
#include "daemon/trash.h"

/* The only long-lived state. */
struct Manager {
        sd_event *event;
        sd_bus *bus;
        sd_event_source *sigterm_source, *sigint_source, *sighup_source;
        char *config_path;
        bool config_must_exist;
        Config config;
        char *runtime_dir;
        char *state_dir;
        int lock_fd;
        Network *network;
        Instance *instances[NET_SLOTS_MAX + 1]; /* by slot number */
        unsigned n_instances;
        sd_event_source *emit_source; /* coalesces instance change signals */
        Instance *gc_queue;           /* instances to remove after the current callback */
        /* Tests only: called on each change of an instance's properties (tests/unit/test-instance.c). */
        void (*instance_observer)(Instance *i, void *userdata);
        void *instance_observer_userdata;
        sd_event_source *gc_source;
        sd_event_source *save_retry_source; /* state.json could not be written: try again */
        uint64_t save_retry_usec;
        int kvm_usable;          /* -1 not probed yet, 0 no, 1 yes */
        SeccompProgram seccomp;  /* the VMMs' syscall filter, compiled at the first spawn */
        bool use_scopes;         /* systemd runs the host: each VMM in a transient scope */
        HostProbe *host_probe;   /* versions, GPU modes, KVM: from a worker (daemon/host-probe.c) */
        AuthRegistry auth;       /* polkit checks in flight (daemon/bus-auth.c) */
        bool teardown_on_exit;
        CgroupLayout cgroups;                /* our subtree in each hierarchy (vmm/cgroup.h) */
        Reap *slot_reaps[NET_SLOTS_MAX + 1]; /* leftovers in a free slot's leaf being ended */
        Trash *trash;                        /* instance directories being deleted (daemon/trash.h) */
        bool state_untrusted;                /* state.json was unreadable: kill nothing at start */
        Autostart autostart;                 /* autostart instances at the daemon's start */
};

int manager_new(const char *config_path,
                bool config_must_exist,
                const char *runtime_dir,
                const char *state_dir,
                Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_CLEANUP(Manager *, manager_free);

/* Loads the config file; on error logs "FILE:LINE: reason" and returns it in *ret_error. */
int manager_load_config(Manager *m, char **ret_error);
/* Re-reads the config and reconciles the network (Reload(), SIGHUP). */
int manager_reload(Manager *m, char **ret_error);
int manager_startup(Manager *m);
int manager_run(Manager *m);

void manager_update_status(Manager *m);

/* Instances */
int manager_allocate_slot(Manager *m, unsigned wanted, unsigned *ret, char **ret_error);
unsigned manager_count_instances_of(Manager *m, uid_t uid);
int manager_check_disk_quota(Manager *m, uid_t uid, char **ret_error);
unsigned manager_count_active(Manager *m);
/* Puts i in the table (-EBUSY: its slot is taken) and announces it. */
int manager_add_instance(Manager *m, Instance *i);
/* Releases the instance's resources, announces its end, answers its Remove() and frees it. */
void manager_remove_instance(Manager *m, Instance *i);
/* For instance_free(): takes i out of the table (and the GC queue). */
void manager_unlink_instance(Manager *m, Instance *i);
/* For instance_add_to_gc_queue(): manager_remove_instance() once the current callback is done. */
void manager_queue_gc(Manager *m, Instance *i);
Instance *manager_get_instance(Manager *m, unsigned number);
void manager_instance_changed(Manager *m, Instance *i);
int manager_save_state(Manager *m);
/* manager_save_state(), and on failure (a full or read-only file system) again with a back-off
 * of 1 s doubling to 30 s until it works: an unsaved transition would be lost to a crash. */
void manager_persist(Manager *m);
/* Kills what is left in slot n's leaf (no instance may own it); 0: it was empty (and is removed),
 * 1: being ended, the slot is busy until then. */
int manager_reap_slot(Manager *m, unsigned n);
/* The cgroup subtree of a daemon with this runtime dir: the default one's is
 * "cuttlefish-host-resources"; any other's carries the escaped path, so two daemons on one host
 * never share (or clean up) each other's cgroups. */
int manager_cgroup_parent(const char *runtime_dir, char **ret);
/* Moves an instance directory away and deletes it in the background (daemon/trash.h). */
void manager_trash_dir(Manager *m, const char *path);

/* What an instance (or another child) may read of the Manager, besides its event loop and bus. */
const char *manager_runtime_dir(const Manager *m);
const char *manager_state_dir(const Manager *m);
const CgroupLayout *manager_cgroups(const Manager *m);
bool manager_use_scopes(const Manager *m); /* VMMs go into systemd transient scopes */
bool manager_vmm_seccomp(const Manager *m);
/* The compiled filter; NULL: it could not be compiled here (each child compiles its own). */
const SeccompProgram *manager_seccomp_program(Manager *m);
int manager_kvm_usable(const Manager *m); /* -1 not probed yet, 0 no, 1 yes */
Network *manager_network(const Manager *m);
AuthRegistry *manager_auth(Manager *m);
/* Whether QEMU (at path qemu) can use KVM here: probed once (vmm/kvm.h), then remembered. */
int manager_kvm_probe(Manager *m, const char *qemu);
/* The host probe's answer (daemon/host-probe.c). */
void manager_set_kvm_usable(Manager *m, bool usable);
