/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a daemon before us left. Found by what the daemon made, never by strings: a process is an
 * orphan only when it sits in a cgroup leaf of ours ("instance-N" under our subtree) that no
 * re-adopted instance owns. An admin's `tail -F .../instances/2/console.log`, a shell started in an
 * instance directory, another user's job: none is in our leaves, none is touched. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/instance.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "daemon/persist.h"
#include "daemon/recover.h"
#include "daemon/state.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/process-util.h"
#include "common/strv.h"
#include "common/time-util.h"

DEFINE_CLEANUP(DIR *, closedir);

static bool leaf_number(const char *leaf, unsigned *ret) {
        uint32_t n;

        if (strncmp(leaf, "instance-", 9) != 0 || parse_uint32(leaf + 9, &n) < 0 || n < 1 ||
            n > NET_SLOTS_MAX)
                return false;
        *ret = n;
        return true;
}

/* Leaves of instances that are not running (or do not exist): their tasks are orphans. */
static void reap_untracked_leaves(Manager *m) {
        _cleanup_(strv_freep) char **leaves = NULL;

        if (cgroup_leaves(&m->cgroups, &leaves) < 0)
                return;
        STRV_FOREACH (leaf, leaves) {
                Instance *i;
                unsigned n;

                if (!leaf_number(*leaf, &n)) {
                        log_debug("Leaving cgroup %s alone: not an instance's.", *leaf);
                        continue;
                }
                i = m->instances[n];
                /* A re-adopted VMM's own children (crosvm's device processes, launch_cvd's tree)
                 * are its own. */
                if (i && (instance_is_active(i) || instance_spawn_running(i)))
                        continue;
                (void) manager_reap_slot(m, n);
        }
}

static void remove_stray_dirs(Manager *m) {
        _cleanup_free_ char *instances_dir = path_join(m->runtime_dir, "instances");
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        if (!instances_dir)
                return;
        d = opendir(instances_dir);
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                uint32_t n;

                if (parse_uint32(de->d_name, &n) < 0 || (n >= 1 && n <= NET_SLOTS_MAX && m->instances[n]))
                        continue;
                path = path_join(instances_dir, de->d_name);
                if (!path)
                        return;
                log_info("Removing %s: no instance %s exists.", path, de->d_name);
                manager_trash_dir(m, path);
        }
}

/* state.json could not be read: what is verifiable on our own is which slots hold processes in
 * our leaves and which have a directory (its owner is the directory's, which root chowned to
 * them). Each becomes a failed/daemon-lost instance of that owner; its processes are left
 * running, for the owner or an admin to look at and Remove(). */
static void keep_unverified(Manager *m) {
        _cleanup_(strv_freep) char **leaves = NULL;
        _cleanup_free_ char *instances_dir = path_join(m->runtime_dir, "instances");
        bool slot[NET_SLOTS_MAX + 1] = {};

        if (!instances_dir)
                return;
        if (cgroup_leaves(&m->cgroups, &leaves) >= 0)
                STRV_FOREACH (leaf, leaves) {
                        unsigned n;

                        if (leaf_number(*leaf, &n) && !reap_leaf_empty(&m->cgroups, *leaf))
                                slot[n] = true;
                }
        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++) {
                _cleanup_free_ char *dir = NULL, *text = NULL;
                _cleanup_(instance_spec_done) InstanceSpec spec = {};
                struct stat st = {};
                Instance *i = NULL;
                bool has_dir;

                if (m->instances[n])
                        continue;
                if (asprintf(&dir, "%s/%u", instances_dir, n) < 0)
                        return;
                has_dir = lstat(dir, &st) >= 0 && S_ISDIR(st.st_mode);
                if (!has_dir && !slot[n])
                        continue;
                if (instance_new(m,
                                 n,
                                 has_dir ? st.st_uid : 0,
                                 has_dir ? st.st_gid : 0,
                                 NULL,
                                 0,
                                 &spec,
                                 &i) < 0)
                        continue;
                i->dir_fresh = true;
                instance_enter_recovered(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                (void) asprintf(&text,
                                "state.json was unreadable when the daemon started (kept beside it as "
                                "state.json.bad-*); %s. Remove the instance to end them",
                                slot[n] ? "the processes in its cgroup were left running"
                                        : "its directory was kept");
                instance_set_status(i, text);
                log_warning("Instance %u (uid %u): not in a readable state.json; kept as failed (daemon-lost), %s.",
                            n,
                            (unsigned) i->owner,
                            slot[n] ? "its processes left running" : "its directory kept");
                (void) manager_add_instance(m, i);
        }
}

static void recover_collect_orphans(Manager *m) {
        if (m->state_untrusted) {
                keep_unverified(m);
                return;
        }
        /* First the processes (so nothing recreates files in a directory we are about to remove),
         * then the instances that lost theirs. */
        reap_untracked_leaves(m);

        /* Directories of instances state.json never heard of (created, then the daemon died
         * before it saved). */
        remove_stray_dirs(m);

        /* Recorded as active, but no VMM was verified (the daemon died while it was starting):
         * marked failed by the loader, its slot's resources go back now. */
        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++) {
                Instance *i = m->instances[k];

                if (!i || !i->release_after_recovery)
                        continue;
                i->release_after_recovery = false;
                instance_release(i);
        }
}

/* Start-up: state.json's records applied to the Manager (daemon/state.h parses them). */

/* The recorded VMM still runs, is the same process (start time) and the same program. exe is what
 * /proc/PID/exe said at spawn; older records hold argv[0], resolved here, except for the cvd
 * backend whose launch_cvd sits in the caller's host package: root does not walk that path. */
static bool vmm_verified(pid_t pid, uint64_t starttime, const char *exe, Backend backend) {
        _cleanup_free_ char *target = NULL, *real = NULL;
        uint64_t st;

        if (pid <= 1 || !exe)
                return false;
        if (pid_get_starttime(pid, &st) < 0 || st != starttime)
                return false;
        /* A package upgrade replaces the binary under a running VMM: " (deleted)" is still it
         * (pid_get_exe() cuts it off). */
        if (pid_get_exe(pid, &target) < 0)
                return false;
        if (backend != BACKEND_CVD)
                real = realpath(exe, NULL);
        return streq(target, real ?: exe) || streq(target, exe);
}

/* A record's state and reason by name; a name this daemon does not know (a newer one wrote it)
 * is "stopped", "requested". */
static InstanceState record_state(const StateRecord *rec) {
        InstanceState s = rec->state ? instance_state_from_string(rec->state) : INSTANCE_STOPPED;

        return s < 0 ? INSTANCE_STOPPED : s;
}

static InstanceReason record_reason(const StateRecord *rec) {
        InstanceReason r = rec->reason ? instance_reason_from_string(rec->reason) : REASON_REQUESTED;

        return r < 0 ? REASON_REQUESTED : r;
}

static bool state_active(InstanceState s) {
        return s == INSTANCE_STARTING || s == INSTANCE_RUNNING || s == INSTANCE_SUSPENDED ||
                        s == INSTANCE_STOPPING;
}

/* One record back as an instance: its VMM re-adopted if it is still the one we started, otherwise
 * stopped or failed as recovery decides (rec->booted is not applied: instance_adopt() scans this
 * run's console for the marker again). */
static int load_instance(Manager *m, StateRecord *rec) {
        InstanceState state = record_state(rec);
        Instance *i = NULL;
        int r;

        if (m->instances[rec->number])
                return -EEXIST;
        r = instance_new(m, rec->number, rec->owner, rec->gid, rec->groups, rec->n_groups, &rec->spec, &i);
        if (r < 0)
                return r;
        i->created_realtime = rec->created;
        i->started_realtime = rec->started;
        i->restart_count = rec->restart_count;
        i->console.start = rec->console_start;
        i->scope = TAKE_PTR(rec->scope);
        i->dir_fresh = true; /* its directory is its own */
        (void) manager_add_instance(m, i);

        if (rec->pid > 0) {
                if (vmm_verified(rec->pid, rec->starttime, rec->exe, i->spec.backend) &&
                    instance_adopt(i, rec->pid, rec->starttime, rec->exe, state == INSTANCE_SUSPENDED) >=
                                    0) {
                        log_info("Instance %u (uid %u): re-adopted running VMM (pid %i)",
                                 rec->number,
                                 (unsigned) i->owner,
                                 (int) rec->pid);
                        return 0;
                }
                /* Gone, or not the process we started: never touch it, release the slot. */
                log_warning("Instance %u (uid %u): VMM (pid %i) could not be verified after the daemon restart; "
                            "marking it failed",
                            rec->number,
                            (unsigned) i->owner,
                            (int) rec->pid);
                instance_set_status(i, "the VMM was lost while the daemon was not running");
                instance_enter_recovered(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                instance_release(i);
                return 0;
        }
        if (state_active(state)) {
                /* Recorded as active, but there is no VMM to verify: the daemon died while it was
                 * starting. Its slot's resources go back after the orphan pass. */
                log_warning("Instance %u (uid %u): was %s when the daemon stopped, with no VMM to re-adopt; "
                            "marking it failed",
                            rec->number,
                            (unsigned) i->owner,
                            instance_state_to_string(state));
                instance_set_status(i, "the daemon stopped while the VMM was starting");
                instance_enter_recovered(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                i->release_after_recovery = true;
                return 0;
        }
        instance_enter_recovered(i, state, record_reason(rec));
        return 0;
}

static void keep_bad_state(const char *path, const char *why) {
        _cleanup_free_ char *aside = NULL;
        int r;

        r = state_keep_bad(path, &aside);
        if (r == -ENOMEM) {
                log_oom();
                return;
        }
        if (r < 0) {
                log_error_errno(r, "%s is unreadable (%s) and could not be kept aside: %m", path, why);
                return;
        }
        log_error("%s is unreadable (%s): kept as %s. Instances it no longer describes are recovered as "
                  "failed (daemon-lost) with their processes left running; nothing is killed.",
                  path,
                  why,
                  aside);
}

static int recover_load_state(Manager *m) {
        _cleanup_free_ char *path = path_join(m->runtime_dir, "state.json"), *text = NULL, *error = NULL;
        StateRecord *records = NULL;
        size_t n = 0;
        int r, skipped;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                m->state_untrusted = true;
                return log_error_errno(r, "Failed to read %s: %m. Nothing is killed at this start.", path);
        }
        skipped = state_parse(text, &records, &n, &error);
        if (skipped == -ENOMEM)
                return log_oom();
        if (skipped != 0) {
                /* Nothing is lost to a bad file: it is kept for a post-mortem, and what it no longer
                 * says is recovered from what the daemon can check on its own (recover_collect_orphans()).
                 */
                m->state_untrusted = true;
                if (skipped > 0)
                        log_warning("Skipping %i malformed instance records of the state: %s",
                                    skipped,
                                    strempty(error));
                else
                        log_error("%s is not a valid state file: %s", path, strempty(error));
                keep_bad_state(path,
                               skipped < 0 ? "it is not a valid state file"
                                           : "some instance records are malformed");
                if (skipped < 0)
                        return skipped;
        }
        for (size_t k = 0; k < n; k++) {
                r = load_instance(m, &records[k]);
                if (r < 0)
                        log_warning_errno(
                                        r,
                                        "Skipping the record of instance %u in %s: %m",
                                        records[k].number,
                                        path);
        }
        state_records_free(records, n);
        return 0;
}

/* One definition with no instance: back as "stopped" (host-reboot), holding its slot. */
static void load_definition(Manager *m, unsigned number) {
        _cleanup_(state_record_done) StateRecord rec = {};
        _cleanup_free_ char *error = NULL, *aside = NULL;
        Instance *i = NULL;
        int r;

        r = persist_load(m->state_dir, number, &rec, &error);
        if (r == -ENOENT)
                return;
        if (r == -ENOMEM) {
                log_oom();
                return;
        }
        if (r >= 0) {
                r = instance_new(m, number, rec.owner, rec.gid, rec.groups, rec.n_groups, &rec.spec, &i);
                if (r < 0)
                        (void) asprintf(&error, "%s", strerror(-r));
        }
        if (r < 0) {
                /* Nothing is dropped silently: the file stays, aside, for the administrator. */
                r = persist_keep_bad(m->state_dir, number, &aside);
                log_error("The definition of instance %u is damaged (%s): kept as %s. Instance %u is not "
                          "recreated; read the file, then remove it or create the instance again.",
                          number,
                          strempty(error),
                          r >= 0 ? aside : "it is (it could not be renamed)",
                          number);
                return;
        }
        i->created_realtime = rec.created;
        i->dir_fresh = false;
        (void) manager_add_instance(m, i);
        instance_enter_recovered(i, INSTANCE_STOPPED, REASON_HOST_REBOOT);
        log_info("Instance %u (uid %u): back from its definition, stopped (host-reboot)%s",
                 number,
                 (unsigned) i->owner,
                 i->spec.autostart ? "; it starts once the network is up (autostart)" : "");
}

/* Definitions of instances no state.json (a rebooted host's runtime dir is empty) or orphan
 * brought back; and definitions written for instances an older daemon left without one. */
static void recover_load_definitions(Manager *m) {
        bool numbers[NET_SLOTS_MAX + 1] = {};
        int r;

        r = persist_scan(m->state_dir, numbers, NET_SLOTS_MAX);
        if (r < 0)
                log_warning_errno(
                                r, "Cannot read the instance definitions in %s/instances: %m", m->state_dir);
        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++) {
                if (m->instances[n]) {
                        if (!persist_exists(m->state_dir, n))
                                (void) persist_save(m->state_dir, m->instances[n]);
                        continue;
                }
                if (numbers[n])
                        load_definition(m, n);
        }
}

int recover_run(Manager *m) {
        int r;

        /* VMMs that outlived an earlier run of the daemon (KillMode=process) first: the network
         * setup must keep the slots they hold. */
        r = recover_load_state(m);
        recover_collect_orphans(m);
        recover_load_definitions(m);
        return r;
}
