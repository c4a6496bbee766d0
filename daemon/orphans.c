/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a daemon before us left. Found by what the daemon made, never by strings: a process is an
 * orphan only when it sits in a cgroup leaf of ours ("instance-N" under our subtree) that no
 * re-adopted instance owns. An admin's `tail -F .../instances/2/console.log`, a shell started in an
 * instance directory, another user's job: none is in our leaves, none is touched. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/instance.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "daemon/orphans.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/parse-util.h"
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

static void on_slot_reaped(Reap *r, int result, const char *leftovers, void *userdata) {
        Manager *m = userdata;

        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++)
                if (m->slot_reaps[n] == r) {
                        if (result == -ETIMEDOUT)
                                log_error("Slot %u: processes left by an earlier instance did not end within %u s "
                                          "of SIGKILL: %s. The slot is not used until they are gone.",
                                          n,
                                          (unsigned) (REAP_TIMEOUT_USEC / USEC_PER_SEC),
                                          strempty(leftovers));
                        else if (result < 0)
                                log_warning_errno(result, "Slot %u: cannot read its cgroup: %m", n);
                        else
                                log_info("Slot %u: the processes an earlier instance left are gone.", n);
                        m->slot_reaps[n] = reap_free(r);
                        return;
                }
}

int manager_reap_slot(Manager *m, unsigned n) {
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_free_ char *what = NULL;
        char leaf[32];
        size_t k = 0;
        int r;

        if (m->slot_reaps[n])
                return 1;
        if (instance_leaf_name(n, leaf, sizeof(leaf)) < 0)
                return -EINVAL;
        r = cgroup_leaf_pids(&m->cgroups, leaf, &pids, &k);
        if (r < 0)
                return r;
        if (k == 0) {
                (void) cgroup_leaf_remove(&m->cgroups, leaf);
                return 0;
        }
        what = cgroup_pids_describe(pids, k, 16);
        log_warning("Slot %u: killing %zu processes left in its cgroup %s by an instance that is gone: %s",
                    n,
                    k,
                    leaf,
                    strempty(what));
        return reap_start(
                        m->event,
                        &m->cgroups,
                        leaf,
                        REAP_TIMEOUT_USEC,
                        on_slot_reaped,
                        m,
                        &m->slot_reaps[n]);
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

void manager_collect_orphans(Manager *m) {
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
