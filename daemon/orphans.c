/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "instance.h"
#include "log.h"
#include "manager.h"
#include "orphans.h"
#include "util.h"

DEFINE_CLEANUP(DIR *, closedir);

#define ORPHANS_MAX 1024
#define ORPHAN_WAIT_MSEC 2000

static bool state_active(InstanceState s) {
        return s == INSTANCE_STARTING || s == INSTANCE_RUNNING || s == INSTANCE_SUSPENDED ||
                        s == INSTANCE_STOPPING;
}

/* The slot whose directory "<runtime>/instances/N" /proc/PID/FILE names (a VMM's argv holds its
 * control socket and console there; launch_cvd's environment its HOME), or 0. */
static unsigned pid_slot_in(pid_t pid, const char *file, const char *instances_dir) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t size, len = strlen(instances_dir);

        if (asprintf(&path, "/proc/%i/%s", (int) pid, file) < 0 || read_full_file(path, &text, &size) < 0)
                return 0;
        for (size_t k = 0; k + len < size; k++)
                if (memcmp(text + k, instances_dir, len) == 0 && isdigit((unsigned char) text[k + len]))
                        return (unsigned) strtoul(text + k + len, NULL, 10);
        return 0;
}

static bool pid_tracked(Manager *m, pid_t pid) {
        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++)
                if (m->instances[k] && (m->instances[k]->pid == pid || m->instances[k]->spawn_pid == pid))
                        return true;
        return false;
}

/* Kills what no instance tracks; returns how many it signalled, their pids in killed[]. */
static size_t kill_untracked(Manager *m, pid_t *killed) {
        _cleanup_free_ char *instances_dir = NULL;
        _cleanup_(closedirp) DIR *proc = NULL;
        struct dirent *de;
        size_t n = 0;

        if (asprintf(&instances_dir, "%s/instances/", m->runtime_dir) < 0)
                return 0;
        proc = opendir("/proc");
        if (!proc)
                return 0;
        while ((de = readdir(proc)) && n < ORPHANS_MAX) {
                Instance *i;
                unsigned slot;
                pid_t pid;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                pid = (pid_t) strtol(de->d_name, NULL, 10);
                if (pid <= 1 || pid == getpid() || pid_tracked(m, pid))
                        continue;
                slot = pid_slot_in(pid, "cmdline", instances_dir);
                if (slot == 0)
                        slot = pid_slot_in(pid, "environ", instances_dir);
                if (slot == 0 || slot > NET_SLOTS_MAX)
                        continue;
                /* A re-adopted VMM's own children (crosvm's device processes, launch_cvd's tree)
                 * name its directory too: they belong to it. */
                i = m->instances[slot];
                if (i && instance_is_active(i))
                        continue;
                log_warning("Killing process %i of slot %u: no instance tracks it (started just before the daemon "
                            "stopped?)",
                            (int) pid,
                            slot);
                if (kill(pid, SIGKILL) >= 0)
                        killed[n++] = pid;
        }
        return n;
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
                (void) rm_rf(path);
        }
}

void manager_collect_orphans(Manager *m) {
        _cleanup_free_ pid_t *killed = calloc(ORPHANS_MAX, sizeof(pid_t));
        size_t n;

        if (!killed)
                return;
        /* First the processes (so nothing recreates files in a directory we are about to remove),
         * then the instances that lost theirs. */
        n = kill_untracked(m, killed);
        for (size_t k = 0; k < n; k++)
                (void) wait_pid_exit(killed[k], ORPHAN_WAIT_MSEC);

        /* Directories of instances state.json never heard of (created, then the daemon died
         * before it saved). */
        remove_stray_dirs(m);

        /* Recorded as active, but no VMM was verified: the daemon died while it was starting. */
        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++) {
                Instance *i = m->instances[k];

                if (!i || instance_is_active(i) || i->spawn_pid > 0 || !state_active(i->state))
                        continue;
                log_warning("Instance %u (uid %u): was %s when the daemon stopped, with no VMM to re-adopt; marking "
                            "it failed",
                            k,
                            (unsigned) i->owner,
                            instance_state_to_string(i->state));
                instance_set_status(i, "the daemon stopped while the VMM was starting");
                instance_set_state(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                instance_release(i);
        }
}
